"""schemathesis hooks for e2e/tests/gateway_schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

A bundle upload's body is a `.tar.gz` holding `manifest.json`: the document can name its media
type but no JSON Schema can describe an archive, so schemathesis is taught to generate real ones
(a manifest for the Python of EXECENV_SCHEMATHESIS_PYTHON and a few files of generated names
and contents) instead of random bytes, so that uploads succeed and the stateful phase can go on to
the bundle, its content and its build.
"""

import io
import json
import os
import tarfile

import schemathesis
from hypothesis import strategies as st

APPMODES = ["python-api", "python-fastapi", "python-shiny", "python-dash", "shiny", "quarto-static", "api"]
NAMES = st.from_regex(r"\A[a-z][a-z0-9_]{0,11}\.(py|R|txt|qmd)\Z")


@st.composite
def bundles(draw):
    manifest = {
        "version": 1,
        "metadata": {
            "appmode": draw(st.sampled_from(APPMODES)),
            "entrypoint": draw(st.sampled_from(["app:app", "main.py", "app.R"])),
        },
        # The test's environment has this machine's Python: a bundle for it can be built.
        "python": {"version": os.environ.get("EXECENV_SCHEMATHESIS_PYTHON", "3.11.9")},
    }
    files = draw(st.dictionaries(NAMES, st.binary(max_size=256), max_size=4))
    files["manifest.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


schemathesis.openapi.media_type("application/gzip", bundles(), aliases=["application/octet-stream"])
