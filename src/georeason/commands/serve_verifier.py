"""``georeason serve-verifier``: an OpenAI-compatible verifier endpoint (RemoteZero's V)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve-verifier",
        help="serve a verifier model over HTTP (OpenAI chat-completions with top logprobs)",
        description="Wraps a local verifier (P(yes)/(P(yes)+P(no)) from next-token logits) in an "
        "HTTP server speaking the subset of the chat-completions protocol that vLLM serves and "
        "that training's HTTP verifier client uses (POST /v1/chat/completions, max_tokens 1, "
        "logprobs, top_logprobs). Concurrent requests are batched. For large models in "
        "production, `vllm serve MODEL` speaks the same protocol.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="verifier checkpoint: folder, hub id, or tiny:qwen2_5_vl / tiny:qwen3_vl",
    )
    p.add_argument("--adapter", help="LoRA adapter folder (peft) to apply to --model")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    p.add_argument("--served-model-name", help="model name reported to clients (default --model)")
    p.add_argument("--max-batch", type=int, default=16, help="crops per forward pass (default 16)")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=200_704,
        help="pixel budget of each crop (default 200,704 = 256 x 28 x 28)",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1... (default: cuda if available)")
    p.add_argument("--dtype", help="torch dtype (default bfloat16 on GPU, float32 on CPU)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from georeason.models.spec import resolve_model
    from georeason.models.verifier import LocalVerifier
    from georeason.serving.verifier_server import VerifierServer

    if args.max_batch < 1:
        from georeason.errors import UserInputError

        raise UserInputError(f"--max-batch must be >= 1, got {args.max_batch}")
    model = resolve_model(args.model)
    verifier = LocalVerifier.from_pretrained(
        model,
        adapter=args.adapter,
        max_pixels=args.max_pixels,
        batch_size=args.max_batch,
        device=args.device,
        dtype=args.dtype,
    )
    name = args.served_model_name or args.model
    server = VerifierServer(
        verifier, name, host=args.host, port=args.port, max_batch=args.max_batch
    )
    # one parsable line for scripts and tests, flushed before serving
    print(f"serving verifier {name} at {server.base_url}", flush=True)
    if getattr(verifier, "weights", None) == "random":
        print("NOTE: random-weight model: its confidences are noise.", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0
