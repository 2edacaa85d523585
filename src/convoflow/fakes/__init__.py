"""Fakes shipped for development and tests, apart from the real channel code.

- graph: `FakeGraph` (the offline WhatsApp Graph API: `convoflow fake-meta`, the e2e
  tests and `bench/e2e.py`) and its routes
- llm: `FakeLLM` (the offline OpenAI/Anthropic-compatible model of `convoflow fake-llm`,
  scripted by YAML rules) and its `Script`
- loopback: `serve_app`, an ASGI app served on 127.0.0.1 for the length of a block
"""
