"""What each kind of source lists and how one of its items is loaded.

A listing is cheap (Confluence page ids and versions, file sizes and times, module source
hashes); loading (a page body, a file's parse, a module's symbol table) happens only for
items whose version changed. `load` returns the keyword arguments of
`services.docs.store.write_document`, or None when the item vanished meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.db.models import DocSource
from services.docs import sources, store
from services.integrations.confluence.client import ConfluenceClient, PageGone
from services.integrations.confluence.storage import storage_to_document
from services.search import parsers, symbols
from services.search.documents import DocumentError, ParsedDocument, Section

Loaded = dict[str, Any] | None


@dataclass(frozen=True)
class Item:
    external_id: str
    title: str
    version: str
    load: Callable[[], Loaded]


# --- Confluence ---------------------------------------------------------------------------

def _confluence_items(source: DocSource, config: dict) -> Iterator[Item]:
    assert source.id is not None
    client = ConfluenceClient(config["url"], sources.confluence_secret(source.id), email=config.get("email") or None)
    for space in config.get("spaces", []):
        for ref in client.pages(space):
            yield Item(ref.id, ref.title, str(ref.version), _page_loader(client, ref.id))


def _page_loader(client: ConfluenceClient, page_id: str) -> Callable[[], Loaded]:
    def load() -> Loaded:
        try:
            page = client.page(page_id)
        except PageGone:
            return None
        parsed = storage_to_document(page.title, page.storage, metadata={"space": page.space_key})
        if not parsed.sections:  # an empty page: index its title, so it can still be found
            parsed = ParsedDocument(page.title, [Section("", page.title)], parsed.media_type, parsed.metadata)
        return {"parsed": parsed, "url": page.url, "location": page.space_key, "labels": page.labels}
    return load


# --- uploaded files and fetched pages ------------------------------------------------------

def _file_items(source: DocSource, _config: dict) -> Iterator[Item]:
    assert source.id is not None
    for document_id, external_id, title, content_hash in store.stored_documents(source.id):
        yield Item(external_id, title, content_hash, _stored_loader(document_id, external_id))


def _stored_loader(document_id: int, name: str) -> Callable[[], Loaded]:
    def load() -> Loaded:
        data = store.stored_content(document_id)
        return {"parsed": parsers.parse_bytes(data, name.rsplit("/", 1)[-1]), "size": len(data)}
    return load


# --- a folder on the server ----------------------------------------------------------------

def _folder_items(_source: DocSource, config: dict) -> Iterator[Item]:
    root = Path(config["path"])
    if not root.is_dir():
        raise DocumentError(f"The folder {root} is gone or unreadable.")
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in parsers.SUPPORTED_SUFFIXES and path.is_file() \
                and not any(part.startswith(".") for part in path.relative_to(root).parts):
            stat = path.stat()
            relative = path.relative_to(root).as_posix()
            yield Item(relative, path.name, f"{stat.st_size}-{stat.st_mtime_ns}", _path_loader(path, root))


def _path_loader(path: Path, root: Path) -> Callable[[], Loaded]:
    def load() -> Loaded:
        if not path.is_file():
            return None
        return {"parsed": parsers.parse_path(path), "location": str(root), "size": path.stat().st_size}
    return load


# --- a Python package ----------------------------------------------------------------------

def module_document(module: str, file: str, found: list[symbols.Symbol]) -> ParsedDocument:
    sections = [Section(symbol.qualname, symbols.symbol_document(symbol)) for symbol in found]
    return ParsedDocument(module, sections, "text/x-python", {"file": file})


def _module_item(package: str, module: str, file: str, source_text: str) -> Item:
    def load() -> Loaded:
        found = symbols.symbols_from_source(module, source_text, file)
        if not found:
            raise DocumentError(f"{file} could not be parsed as Python.")
        return {"parsed": module_document(module, file, found), "location": package, "symbols": found,
                "size": len(source_text)}
    return Item(f"module:{module}", module, store.content_hash(source_text.encode()), load)


def _doc_item(name: str, data: bytes, location: str) -> Item:
    def load() -> Loaded:
        return {"parsed": parsers.parse_bytes(data, name), "location": location, "size": len(data)}
    return Item(f"doc:{name}", name, store.content_hash(data), load)


def _package_items(source: DocSource, config: dict) -> Iterator[Item]:
    assert source.id is not None
    package = config.get("package", "")
    if package:
        root = symbols.installed_package_root(package)
        modules = symbols.walk_package(root, package=package)
        docs = symbols.package_docs(root)
    else:
        path = sources.archive_path(source.id)
        if not path.is_file():
            raise DocumentError("The uploaded archive of this package is missing; upload it again.")
        data, name = path.read_bytes(), config.get("archive_name", "package.tar.gz")
        modules, docs = symbols.walk_archive(data, name), symbols.archive_docs(data, name)
        package = name
    for module, file, source_text in modules:
        yield _module_item(package, module, file, source_text)
    for name, data in docs:
        yield _doc_item(name, data, package)


_LISTERS: dict[str, Callable[[DocSource, dict], Iterator[Item]]] = {
    "confluence": _confluence_items, "files": _file_items, "folder": _folder_items, "package": _package_items,
}


def list_items(source: DocSource) -> list[Item]:
    """Every item of the source; raises IntegrationError/DocumentError when it cannot be listed."""
    lister = _LISTERS.get(source.kind)
    if lister is None:
        raise DocumentError(f"A {source.kind} source cannot be synced.")
    return list(lister(source, json.loads(source.config_json or "{}")))
