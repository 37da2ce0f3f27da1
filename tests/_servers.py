"""Test helper: start ``georeason serve-verifier`` as a real subprocess on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve_verifier(model_dir: Path, port: int) -> subprocess.Popen:
    """Start the server on ``port`` and wait for its "serving" line (asserted to name the URL).

    stderr goes to /dev/null so a long run never blocks on a full pipe; on a failed start the
    assertion message carries the exit code.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(SRC))
    env.pop("GEOREASON_DEBUG", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "georeason.cli",
            "serve-verifier",
            "--model",
            str(model_dir),
            "--port",
            str(port),
            "--device",
            "cpu",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    assert f"127.0.0.1:{port}/v1" in line, f"server did not start (exit {proc.poll()}): {line!r}"
    return proc


def start_app(model_dir: Path, port: int, work_dir: Path) -> subprocess.Popen:
    """Start ``georeason app`` on 127.0.0.1:``port`` as a new user would, and wait for Gradio's
    "Running on local URL" line (asserted to name the port)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(SRC), PYTHONUNBUFFERED="1")
    env.pop("GEOREASON_DEBUG", None)
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    proc = subprocess.Popen(
        [sys.executable, "-m", "georeason", "app", "--model", str(model_dir)]
        + ["--port", str(port), "--max-new-tokens", "48", "--work-dir", str(work_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for _ in range(20):  # Gradio prints a few lines; the URL line comes once it listens
        line = proc.stdout.readline()
        if not line or "Running on local URL" in line:
            break
    assert f"127.0.0.1:{port}" in line, f"app did not start (exit {proc.poll()}): {line!r}"
    return proc


def start_transformers_serve(port: int) -> subprocess.Popen:
    """Start the real ``transformers serve`` (OpenAI-compatible) on 127.0.0.1:``port`` and wait
    until ``GET /health`` answers. Models load on demand by the request's ``model`` (a folder).

    The server process first imports :mod:`georeason.models.processors`, which registers the
    image-only Qwen-VL processors: without torchvision (not usable on CPU here) the stock
    processors cannot be built, ``AutoProcessor`` falls back to a bare tokenizer and the
    server silently drops images. With torchvision (GPU machines) plain ``transformers serve``
    is enough.
    """
    import time
    import urllib.request

    code = (
        "import sys\n"
        "import georeason.models.processors\n"
        "from transformers.cli.transformers import main\n"
        f"sys.argv = ['transformers', 'serve', '--port', '{port}', '--host', '127.0.0.1',"
        " '--device', 'cpu']\n"
        "sys.exit(main())\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(SRC), HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"transformers serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("transformers serve did not answer /health within 300 s")
