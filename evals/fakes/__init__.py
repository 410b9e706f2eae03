"""Fakes of the services Lumen talks to, served over real sockets on loopback: no network, no keys.

They serve the evals (`evals/`, so `lumen eval`), the benchmarks (`bench/`) and the tests (`tests/`); the rooms that
serve shoppers (server.py, agent/, tools/, shopify/, storage/, outbox/) never import them.

- `shopify_admin.py`: a fake Shopify Admin GraphQL API over any store file, with Shopify's search syntax and its
  calculated-cost leaky bucket (`THROTTLED` answers), so the real client's retries and rate limiting are exercised.
  `python -m evals.fakes.shopify_admin --store data/demo-store.json --port 8787`
- `openai_api.py`: an OpenAI-compatible chat completions API that answers with the playbook, so the whole OpenAI
  client path runs without a key (`lumen eval --model openai:playbook-wire`).
  `python -m evals.fakes.openai_api --port 8788`
- `loopback.py`: `LoopbackServer`, which runs an ASGI app with uvicorn in a background thread on a free port.
"""
