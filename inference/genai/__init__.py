"""Generative and embedding models on openvino-genai: pipelines per served version, and the tiny-model builder."""
