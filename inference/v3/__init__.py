"""The OpenAI-compatible API (OVMS calls it /v3): chat/completions, completions, embeddings, rerank, models."""
