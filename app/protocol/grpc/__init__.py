"""The Open Inference Protocol over gRPC: predict_v2.proto, its generated modules, converters."""
