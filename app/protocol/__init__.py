"""The Open Inference Protocol (KServe V2), pure: messages and tensor codecs."""
