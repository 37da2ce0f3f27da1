"""Models behind HTTP: OpenAI-compatible clients and the servers georeason ships.

* :mod:`georeason.serving.verifier_client` - :class:`HTTPVerifier`,
  the verifier client (chat completions with top logprobs for P(yes)), with retries.
* :mod:`georeason.serving.verifier_server` - ``georeason serve-verifier``: a small
  OpenAI-compatible server that returns the yes/no logprobs a stock server may not give.

In-process models live in :mod:`georeason.models`; this package never imports training code.
"""
