"""Sample documents and archives built in memory, shared by the Doc Q&A tests.

The PDFs are written by hand (a Type1 Helvetica font and a text content stream per page,
with a correct xref table) so pypdf has a real text layer to extract; pypdf's own writer
adds blank pages and encryption.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib

from pypdf import PdfReader, PdfWriter


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _content_stream(text: str) -> bytes:
    lines = " T* ".join(f"{_pdf_string(line)} Tj" for line in text.splitlines() or [""])
    return f"BT /F1 12 Tf 14 TL 72 720 Td {lines} ET".encode("latin-1")


def pdf_bytes(pages: list[str], title: str | None = None) -> bytes:
    """A valid PDF with one page per string (lines become text lines), optional /Title."""
    count = len(pages)
    # Objects: 1 catalog, 2 pages, 3 font, then per page a page object and its content stream.
    page_ids = [4 + 2 * i for i in range(count)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{' '.join(f'{i} 0 R' for i in page_ids)}] /Count {count} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for page_id, text in zip(page_ids, pages):
        stream = _content_stream(text)
        objects[page_id] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>").encode()
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    info_id = 4 + 2 * count
    if title is not None:
        objects[info_id] = f"<< /Title {_pdf_string(title)} >>".encode("latin-1")
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref_at = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[n] if n in offsets else b"0000000000 65535 f \n"
                    for n in range(1, size))
    info = f" /Info {info_id} 0 R" if title is not None else ""
    out += f"trailer\n<< /Size {size} /Root 1 0 R{info} >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def blank_pdf_bytes(pages: int = 2) -> bytes:
    """A PDF without a text layer, like a scan without OCR."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    return _written(writer)


def encrypted_pdf_bytes(text: str = "Secret plans", password: str = "hunter2") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([text]))))
    writer.encrypt(user_password=password, owner_password=password + "-owner")
    return _written(writer)


def with_outline(pdf: bytes, bookmarks: list[tuple[str, int, str | None]]) -> bytes:
    """`pdf` with bookmarks (title, 0-based page, parent title or None), in order."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    added = {}
    for title, page, parent in bookmarks:
        added[title] = writer.add_outline_item(title=title, page_number=page, parent=added.get(parent) if parent else None)
    return _written(writer)


def _written(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def png_bytes() -> bytes:
    """A real 1x1 PNG."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


def html_doc() -> str:
    return """<!DOCTYPE html>
<html><head><title>Deploy Guide</title><style>body { color: red }</style>
<script>var secret = "tracking-code";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/docs">Docs navigation</a></nav>
<header>Site banner</header>
<h1>Deploying</h1>
<p>Read this   before you
deploy.</p>
<h2>Linux</h2>
<p>Install the package.</p>
<ul><li>Debian<ul><li>bookworm</li></ul></li><li>Fedora</li></ul>
<pre><code class="language-bash">apt-get install llmcoder
  systemctl start llmcoder</code></pre>
<h3>Ports</h3>
<table><tr><th>Port</th><th>Use</th></tr><tr><td>3000</td><td>web</td></tr></table>
<h2>Windows</h2>
<p>Use <code>WSL</code>.</p>
<noscript>Enable JavaScript</noscript>
<footer>Copyright footer</footer>
</body></html>
"""


def markdown_doc() -> str:
    return """# User Guide

Welcome to the guide.

## Install

Run the installer.

### Linux

```bash
# not a heading: this is inside a fence
./scripts/install --prefix /opt
```

Setext Heading
--------------

Text under a setext heading.

# Appendix

- item one
- item two
"""


def zip_bytes(members: dict[str, bytes | str], *, symlinks: tuple[str, ...] = ()) -> bytes:
    """A zip with the given members; names in `symlinks` are stored as symbolic links."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.external_attr = (0o120777 << 16)
            archive.writestr(info, body)
    return buffer.getvalue()


def targz_bytes(members: dict[str, bytes | str], *, symlinks: dict[str, str] | None = None) -> bytes:
    """A .tar.gz with the given files plus symbolic links (name -> target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in members.items():
            data = body.encode() if isinstance(body, str) else body
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()
