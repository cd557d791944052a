// The drawing page: strokes and uploads go to the service's POST /predict; no model logic here.
"use strict";

(() => {
  // On the 280 px canvas a 24 px pen gives MNIST-like strokes once the server scales the digit
  // into its 20 px box.
  const STROKE_WIDTH = 24;
  const INK = "#111111";
  const PREDICT_EVERY_MS = 200;
  const PREDICT_URL = "/predict?include_image=true";

  const $ = (id) => document.getElementById(id);
  const canvas = $("pad");
  const ctx = canvas.getContext("2d");
  const dropZone = $("draw-panel");
  const fileInput = $("file");
  const digitEl = $("digit");
  const confidenceEl = $("confidence");
  const summaryEl = $("summary");
  const errorEl = $("error");
  const seenImg = $("seen");
  const seenEmpty = $("seen-empty");
  const barsEl = $("bars");

  let drawing = false;
  let hasInk = false;
  let last = null;
  let timer = 0;
  let sending = false;
  let pending = false;
  // Bumped by Clear and by uploads, so an answer to an older request is dropped.
  let generation = 0;

  const percent = (p) => `${(p * 100).toFixed(1)}%`;
  // `not_a_digit.reason` of an answer whose `digit` is null.
  const REASONS = { low_confidence: "too unsure", no_digit_shape: "no digit shape" };

  // A service run with MNIST_API_API_KEY answers 401: ask for the key once, keep it for this
  // tab only, and send it as X-API-Key from then on.
  const KEY_STORE = "mnist-api-key";
  let asking = null;

  function withKey(options) {
    const key = sessionStorage.getItem(KEY_STORE);
    return key ? { ...options, headers: { "X-API-Key": key } } : options;
  }

  async function askForKey() {
    asking = asking || Promise.resolve().then(() => {
      const key = window.prompt("This service needs an API key:");
      if (key && key.trim()) sessionStorage.setItem(KEY_STORE, key.trim());
      return Boolean(key && key.trim());
    });
    try {
      return await asking;
    } finally {
      asking = null;
    }
  }

  async function call(url, options = {}) {
    const response = await fetch(url, withKey(options));
    if (response.status !== 401 || !(await askForKey())) return response;
    return fetch(url, withKey(options));
  }

  function buildBars() {
    for (let d = 0; d < 10; d += 1) {
      const item = document.createElement("li");
      item.className = "bar";
      item.dataset.digit = String(d);
      item.innerHTML =
        '<span class="bar-label"><span class="sr-only">digit </span></span>' +
        '<span class="bar-track" aria-hidden="true"><span class="bar-fill"></span></span>' +
        '<span class="bar-value">0.0%</span>';
      item.querySelector(".bar-label").append(String(d));
      barsEl.append(item);
    }
  }

  function setBars(probabilities, top) {
    barsEl.querySelectorAll(".bar").forEach((item, d) => {
      const p = probabilities ? probabilities[d] : 0;
      item.querySelector(".bar-fill").style.width = percent(p);
      item.querySelector(".bar-value").textContent = percent(p);
      item.classList.toggle("top", d === top);
    });
  }

  function showError(message) {
    errorEl.textContent = message;
    errorEl.hidden = false;
  }

  function resetResult(summary) {
    digitEl.textContent = "";
    digitEl.classList.remove("not-digit");
    confidenceEl.textContent = "";
    summaryEl.textContent = summary;
    seenImg.hidden = true;
    seenImg.removeAttribute("src");
    seenImg.alt = "";
    seenEmpty.hidden = false;
    setBars(null, -1);
  }

  function showPrediction(result, source) {
    errorEl.hidden = true;
    const notADigit = result.digit === null && result.not_a_digit;
    digitEl.classList.toggle("not-digit", Boolean(notADigit));
    if (notADigit) {
      const reason = notADigit.reason;
      digitEl.textContent = "not a digit";
      confidenceEl.textContent = REASONS[reason] || reason;
      summaryEl.textContent = `The model sees no digit in ${source}: ${notADigit.detail}.`;
      setBars(result.probabilities, -1);
    } else {
      digitEl.textContent = String(result.digit);
      confidenceEl.textContent = `${percent(result.confidence)} sure`;
      summaryEl.textContent =
        `The model reads ${result.digit} (${percent(result.confidence)} sure) in ${source}.`;
      setBars(result.probabilities, result.digit);
    }
    if (result.image) {
      seenImg.src = `data:image/png;base64,${result.image}`;
      seenImg.alt = `The 28×28 image the model saw for ${source}`;
      seenImg.hidden = false;
      seenEmpty.hidden = true;
    }
  }

  function detailOf(body, response) {
    if (body && typeof body.detail === "string") return body.detail;
    if (body && Array.isArray(body.detail)) return body.detail.map((e) => e.msg).join("; ");
    return response.statusText || "no details given";
  }

  async function predict(blob, filename, source) {
    const asked = generation;
    const form = new FormData();
    form.append("file", blob, filename);
    let response;
    let body = null;
    try {
      response = await call(PREDICT_URL, { method: "POST", body: form });
      body = await response.json().catch(() => null);
    } catch (err) {
      if (asked === generation) showError(`Could not reach the service: ${err.message}`);
      return;
    }
    if (asked !== generation) return;
    if (!response.ok) {
      resetResult(`No prediction for ${source}.`);
      showError(`The service could not use ${source}: ${detailOf(body, response)} ` +
        `(HTTP ${response.status})`);
      return;
    }
    showPrediction(body, source);
  }

  // One request at a time: strokes made meanwhile are sent when it returns.
  async function sendDrawing() {
    timer = 0;
    if (!hasInk) return;
    if (sending) {
      pending = true;
      return;
    }
    sending = true;
    try {
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      if (blob && hasInk) await predict(blob, "drawing.png", "your drawing");
    } finally {
      sending = false;
      if (pending) {
        pending = false;
        sendDrawing();
      }
    }
  }

  function schedule(now) {
    if (now) clearTimeout(timer);
    else if (timer) return; // throttle: while drawing, predict at most every PREDICT_EVERY_MS
    timer = setTimeout(sendDrawing, PREDICT_EVERY_MS);
  }

  function clearCanvas() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    hasInk = false;
    clearTimeout(timer);
    timer = 0;
    pending = false;
  }

  function clearAll() {
    generation += 1;
    clearCanvas();
    fileInput.value = "";
    errorEl.hidden = true;
    resetResult("Cleared. Draw a digit to see what the model thinks.");
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * canvas.width) / box.width,
      y: ((event.clientY - box.top) * canvas.height) / box.height,
    };
  }

  function dot(p) {
    ctx.beginPath();
    ctx.arc(p.x, p.y, STROKE_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function onPointerDown(event) {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    if (!hasInk) generation += 1; // a new drawing replaces an uploaded file's result
    fileInput.value = "";
    drawing = true;
    last = point(event);
    dot(last);
    hasInk = true;
    schedule(false);
  }

  function onPointerMove(event) {
    if (!drawing) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    for (const e of events.length ? events : [event]) {
      last = point(e);
      ctx.lineTo(last.x, last.y);
    }
    ctx.stroke();
    schedule(false);
  }

  function onPointerUp() {
    if (!drawing) return;
    drawing = false;
    schedule(true);
  }

  function handleFile(file) {
    if (!file) return;
    clearCanvas();
    generation += 1;
    errorEl.hidden = true;
    summaryEl.textContent = `Reading ${file.name}…`;
    predict(file, file.name, file.name);
  }

  function setUpDropZone() {
    // Dropping a file anywhere else must not navigate away from the page.
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (event) => event.preventDefault());
    }
    dropZone.addEventListener("dragover", (event) => {
      event.preventDefault();
      dropZone.classList.add("dragging");
    });
    dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
    dropZone.addEventListener("drop", (event) => {
      event.preventDefault();
      dropZone.classList.remove("dragging");
      handleFile(event.dataTransfer.files[0]);
    });
  }

  async function loadModelInfo() {
    const info = $("model-info");
    try {
      const response = await call("/model");
      const body = await response.json();
      if (!response.ok) throw new Error(detailOf(body, response));
      const accuracy =
        typeof body.test_accuracy === "number" ? percent(body.test_accuracy) : "unknown";
      info.textContent =
        `Model ${body.name}, version ${body.version}, test accuracy ${accuracy}. `;
    } catch (err) {
      info.textContent = `Model details unavailable (${err.message}). `;
    }
    const docs = document.createElement("a");
    docs.href = "/docs";
    docs.textContent = "API docs";
    info.append(docs);
  }

  ctx.lineWidth = STROKE_WIDTH;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = INK;
  ctx.fillStyle = INK;
  buildBars();
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", onPointerUp);
  $("clear").addEventListener("click", clearAll);
  fileInput.addEventListener("change", () => handleFile(fileInput.files[0]));
  setUpDropZone();
  loadModelInfo();
})();
