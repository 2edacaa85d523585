"""Talking to LLM providers: the request/response model (`model.py`), the two wire
formats (`openai.py` for Chat Completions and compatible servers, `anthropic.py` for
Messages) and `client.LLMClient`, which sends through the egress module with timeouts and
retries and reports token usage and latency."""
