"""What a Python library offers, read from its source with `ast`: never imported, never run.

An installed package is found with `importlib.util.find_spec` on its top-level name (which
locates it without executing it); an uploaded sdist or wheel is read in memory, with the
checks a hostile archive needs (no absolute or ".." paths, no links, bounded size and
member count). Each public module, class, function, method, property and UPPER_CASE
constant becomes a `Symbol`; `symbol_document` is its text for retrieval.
"""

from __future__ import annotations

import ast
import email
import importlib.metadata
import importlib.util
import io
import logging
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePosixPath

from services.search.documents import DocumentError

log = logging.getLogger(__name__)

MAX_SOURCE_BYTES = 1024 * 1024  # larger .py files are generated tables, not API
MAX_ARCHIVE_BYTES = 200 * 1024 * 1024
MAX_ARCHIVE_MEMBERS = 20_000
MAX_DOC_BYTES = 25 * 1024 * 1024
_SKIPPED_DIRS = frozenset({"tests", "test", "__pycache__"})
_PUBLIC_DUNDERS = frozenset({"__init__", "__call__", "__enter__", "__exit__", "__aenter__", "__aexit__"})
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")
_DOC_SUFFIXES = frozenset({".md", ".rst", ".txt", ".markdown"})
_README_SUFFIXES = {"text/markdown": ".md", "text/x-rst": ".rst"}

_Entry = tuple[PurePosixPath, int, Callable[[], bytes]]  # archive or disk file: path, size, reader


@dataclass(frozen=True)
class Symbol:
    qualname: str  # "requests.sessions.Session.get"
    name: str
    kind: str  # module|class|function|async function|method|async method|property|constant
    signature: str  # "(self, url, **kwargs) -> Response"; " = 30" for a constant
    docstring: str
    file: str  # relative to the directory holding the package: "requests/sessions.py"
    line: int
    end_line: int
    bases: str  # classes only: "Base, metaclass=Meta"


# --- symbols from source -------------------------------------------------------------------

def symbols_from_source(module_qualname: str, source: str, file: str) -> list[Symbol]:
    """The public symbols of one module, module first; [] (and a warning) for a file that
    does not parse, which the caller counts as skipped."""
    try:
        tree = ast.parse(source, filename=file)
    except (SyntaxError, ValueError) as exc:
        log.warning("Skipping %s: it does not parse (%s)", file, exc)
        return []
    module = Symbol(qualname=module_qualname, name=module_qualname.rpartition(".")[2], kind="module",
                    signature="", docstring=ast.get_docstring(tree) or "", file=file, line=1,
                    end_line=max(len(source.splitlines()), 1), bases="")
    return [module, *_body_symbols(tree.body, module_qualname, file, in_class=False)]


def _is_public(name: str) -> bool:
    return not name.startswith("_") or name in _PUBLIC_DUNDERS


def _body_symbols(body: list[ast.stmt], prefix: str, file: str, *, in_class: bool) -> Iterator[Symbol]:
    for node in body:
        if isinstance(node, ast.ClassDef) and _is_public(node.name):
            yield _class_symbol(node, prefix, file)
            yield from _body_symbols(node.body, f"{prefix}.{node.name}", file, in_class=True)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_public(node.name):
            if not _is_overload_or_accessor(node):
                yield _function_symbol(node, prefix, file, in_class=in_class)
        elif not in_class:
            yield from _constant_symbols(node, prefix, file)


def _symbol(node: ast.AST, qualname: str, kind: str, signature: str, file: str, bases: str = "") -> Symbol:
    docstring = ast.get_docstring(node) if isinstance(node, (ast.ClassDef, ast.FunctionDef,
                                                             ast.AsyncFunctionDef)) else None
    return Symbol(qualname=qualname, name=qualname.rpartition(".")[2], kind=kind, signature=signature,
                  docstring=docstring or "", file=file, line=node.lineno,
                  end_line=node.end_lineno or node.lineno, bases=bases)


def _class_symbol(node: ast.ClassDef, prefix: str, file: str) -> Symbol:
    init = next((item for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and item.name == "__init__"), None)
    signature = _signature(_without_first(init.args), None) if init else ""
    bases = ", ".join([ast.unparse(base) for base in node.bases]
                      + [f"{keyword.arg}={ast.unparse(keyword.value)}" for keyword in node.keywords])
    return _symbol(node, f"{prefix}.{node.name}", "class", signature, file, bases)


def _decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """"property", "functools.cached_property", "x.setter": calls reduced to their callee."""
    return [ast.unparse(item.func if isinstance(item, ast.Call) else item) for item in node.decorator_list]


def _is_overload_or_accessor(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """@overload stubs and property setters/deleters repeat a name already listed."""
    return any(name.rpartition(".")[2] in ("overload", "setter", "deleter") for name in _decorator_names(node))


def _function_symbol(node: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str, file: str, *,
                     in_class: bool) -> Symbol:
    is_async = isinstance(node, ast.AsyncFunctionDef)
    if in_class and any(name.rpartition(".")[2] in ("property", "cached_property")
                        for name in _decorator_names(node)):
        kind = "property"
    elif in_class:
        kind = "async method" if is_async else "method"
    else:
        kind = "async function" if is_async else "function"
    return _symbol(node, f"{prefix}.{node.name}", kind, _signature(node.args, node.returns), file)


def _constant_symbols(node: ast.stmt, prefix: str, file: str) -> Iterator[Symbol]:
    """Module-level UPPER_CASE names bound to a literal (numbers, strings, tuples of them...)."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return
    shown = ast.unparse(value)
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    for target in targets:
        if isinstance(target, ast.Name) and _CONSTANT.match(target.id):
            yield _symbol(node, f"{prefix}.{target.id}", "constant", f" = {shown}", file)


def _without_first(args: ast.arguments) -> ast.arguments:
    """An __init__'s parameters without `self`, for the class's own signature."""
    if args.posonlyargs:
        return ast.arguments(posonlyargs=args.posonlyargs[1:], args=args.args, vararg=args.vararg,
                             kwonlyargs=args.kwonlyargs, kw_defaults=args.kw_defaults, kwarg=args.kwarg,
                             defaults=args.defaults)
    return ast.arguments(posonlyargs=[], args=args.args[1:], vararg=args.vararg, kwonlyargs=args.kwonlyargs,
                         kw_defaults=args.kw_defaults, kwarg=args.kwarg, defaults=args.defaults)


def _parameter(arg: ast.arg, default: ast.expr | None = None, prefix: str = "") -> str:
    text = prefix + arg.arg
    if arg.annotation is not None:
        text += f": {ast.unparse(arg.annotation)}"
    if default is not None:
        text += f" = {ast.unparse(default)}" if arg.annotation is not None else f"={ast.unparse(default)}"
    return text


def _signature(args: ast.arguments, returns: ast.expr | None) -> str:
    """The parameter list as written: positional-only "/", "*args" or a bare "*" before
    keyword-only ones, "**kwargs", annotations, defaults and the return annotation."""
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parts = [_parameter(arg, default) for arg, default in zip(positional, defaults)]
    if args.posonlyargs:
        parts.insert(len(args.posonlyargs), "/")
    if args.vararg is not None:
        parts.append(_parameter(args.vararg, prefix="*"))
    elif args.kwonlyargs:
        parts.append("*")
    parts += [_parameter(arg, default) for arg, default in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg is not None:
        parts.append(_parameter(args.kwarg, prefix="**"))
    result = f"({', '.join(parts)})"
    return f"{result} -> {ast.unparse(returns)}" if returns is not None else result


def symbol_document(symbol: Symbol) -> str:
    """The text that stands for a symbol in the index: name and signature, what and where
    it is, then its docstring."""
    where = f"{symbol.kind} in {symbol.file}:{symbol.line}"
    if symbol.bases:
        where += f", bases: {symbol.bases}"
    return "\n".join(part for part in (symbol.qualname + symbol.signature, where, symbol.docstring) if part)


_CODE_QUOTED = re.compile(r"`([^`\n]+)`")
_IDENTIFIER_LIKE = re.compile(
    r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"  # dotted: requests.get, Session.get
    r"|\b[A-Za-z_]\w*(?=\()"  # called: get(
    r"|\b_*[a-z][a-z0-9]*_\w+"  # snake_case: json_normalize
    r"|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+"  # UPPER_CASE: DEFAULT_TIMEOUT
    r"|\b[A-Z][a-z0-9]+[A-Z]\w*"  # CamelCase: DataFrame
    r"|\b[A-Z]{2,}[a-z]\w*"  # acronym first: HTTPAdapter
    r"|\b[a-z]+[A-Z]\w*"  # camelCase: getElementById
)
_NOT_NAMES = frozenset({"e.g", "i.e", "etc"})


def find_symbol_mentions(question: str) -> list[str]:
    """Candidate identifiers in a question, `code-quoted` ones first, then dotted names,
    names followed by "(", snake_case, UPPER_CASE and CamelCase words in order of appearance."""
    found: list[str] = []
    for quoted in _CODE_QUOTED.findall(question):
        found += _IDENTIFIER_LIKE.findall(quoted) or re.findall(r"[A-Za-z_][\w.]*", quoted)[:1]
    found += _IDENTIFIER_LIKE.findall(_CODE_QUOTED.sub(" ", question))
    names = (name.strip(".") for name in found)
    return list(dict.fromkeys(name for name in names if name and name.lower() not in _NOT_NAMES))


# --- installed packages ------------------------------------------------------------------

def installed_package_root(name: str) -> Path:
    """The directory (or single .py file) of an installed package, by import name or
    distribution name, located without importing it."""
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", name):
        raise DocumentError(f"No installed Python package called {name!r}")
    top, _, rest = name.partition(".")
    root = _top_level_root(top) or next(filter(None, map(_top_level_root, _import_names(top))), None)
    if root is None:
        raise DocumentError(f"No installed Python package called {name!r}")
    return _subpackage(root, rest, name)


def _import_names(distribution: str) -> list[str]:
    """Import names provided by a distribution ("beautifulsoup4" -> ["bs4"])."""
    wanted = re.sub(r"[-_.]+", "-", distribution).lower()
    return sorted(package for package, dists in importlib.metadata.packages_distributions().items()
                  if any(re.sub(r"[-_.]+", "-", dist).lower() == wanted for dist in dists))


def _top_level_root(name: str) -> Path | None:
    """find_spec of a top-level name only consults the path finders: nothing is executed."""
    try:
        spec = importlib.util.find_spec(name.replace("-", "_"))
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin and spec.origin.endswith(".py"):
        return Path(spec.origin)
    raise DocumentError(f"{name} has no Python source to read (it is built in or compiled)")


def _subpackage(root: Path, dotted_rest: str, name: str) -> Path:
    """Walk down "a.b" by directory names rather than find_spec, which would import parents."""
    for part in filter(None, dotted_rest.split(".")):
        if (root / part).is_dir():
            root = root / part
        elif (root / f"{part}.py").is_file():
            root = root / f"{part}.py"
        else:
            raise DocumentError(f"No installed Python package called {name!r}")
    return root


def walk_package(root: Path, *, package: str | None = None) -> Iterator[tuple[str, str, str]]:
    """(module qualname, file path like "pkg/sub/mod.py", source) for each module under an
    installed package directory (or the single module file `root`). `package` is root's
    dotted name when it is a subpackage ("rq.worker"); a name that does not end in root's
    own (a distribution name such as "beautifulsoup4" for bs4) gives way to root's."""
    name = package if package and package.rpartition(".")[2] == root.stem else root.stem
    base = PurePosixPath(*name.split("."))
    if root.is_file():
        files = [(base.with_suffix(".py"), root)]
    else:
        files = [(base.joinpath(*path.relative_to(root).parts), path) for path in _python_files(root)]
    entries = ((relpath, path.stat().st_size, path.read_bytes) for relpath, path in files)
    yield from _modules(entries, PurePosixPath())


def _python_files(root: Path) -> Iterator[Path]:
    for directory, subdirs, filenames in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not _skipped_part(d))
        yield from (Path(directory, f) for f in sorted(filenames) if f.endswith(".py"))


def _skipped_part(part: str) -> bool:
    return part in _SKIPPED_DIRS or part.startswith(".")


def _module_name(relpath: PurePosixPath) -> str:
    parts = list(relpath.with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _modules(entries: Iterable[_Entry], base: PurePosixPath) -> Iterator[tuple[str, str, str]]:
    """The .py entries as (qualname, path relative to `base`, source); skips tests, caches,
    hidden folders and oversized files."""
    for path, size, read in entries:
        relpath = path.relative_to(base)
        if path.suffix != ".py" or size > MAX_SOURCE_BYTES or any(_skipped_part(p) for p in relpath.parts[:-1]):
            continue
        yield _module_name(relpath), relpath.as_posix(), _decode_source(read())


def _decode_source(data: bytes) -> str:
    """Honours a PEP 263 coding line; undecodable bytes become U+FFFD instead of losing
    the whole module."""
    try:
        return importlib.util.decode_source(data)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return data.decode("utf-8", errors="replace")


def package_docs(root: Path) -> Iterator[tuple[str, bytes]]:
    """The README of the distribution that installs the top-level package `root`, from its
    METADATA (installed packages rarely ship their docs folder)."""
    for distribution in importlib.metadata.packages_distributions().get(root.stem, [])[:1]:
        readme = _readme_from_metadata(importlib.metadata.metadata(distribution))
        if readme:
            yield readme


def _readme_from_metadata(metadata: Message) -> tuple[str, bytes] | None:
    body = metadata.get_payload() or metadata.get("Description") or ""
    if not isinstance(body, str) or not body.strip():
        return None
    content_type = (metadata.get("Description-Content-Type") or "").split(";")[0].strip().lower()
    return f"README{_README_SUFFIXES.get(content_type, '.txt')}", body.encode()


# --- uploaded archives -------------------------------------------------------------------

def walk_archive(data: bytes, filename: str) -> Iterator[tuple[str, str, str]]:
    """walk_package for an uploaded sdist or wheel, read in memory only."""
    entries = _archive_entries(data, filename)
    roots = _package_roots(entries)
    if not roots:
        raise DocumentError(f"{filename} contains no Python package (no folder with an __init__.py)")
    for root in roots:
        base = root.parent
        if root.suffix == ".py":
            yield from _modules((entry for entry in entries if entry[0] == root), base)
        else:
            yield from _modules((entry for entry in entries if root in entry[0].parents), base)


def archive_docs(data: bytes, filename: str) -> Iterator[tuple[str, bytes]]:
    """README* at the top of an archive, docs/ (or doc/) text files, or a wheel's README
    from its METADATA."""
    entries = _archive_entries(data, filename)
    for path, size, read in entries:
        if size > MAX_DOC_BYTES:
            continue
        top_readme = len(path.parts) == 1 and path.name.upper().startswith("README")
        in_docs = path.parts[0] in ("docs", "doc") and path.suffix.lower() in _DOC_SUFFIXES
        if top_readme or in_docs:
            yield path.as_posix(), read()
        elif len(path.parts) == 2 and path.parts[0].endswith(".dist-info") and path.name == "METADATA":
            readme = _readme_from_metadata(email.message_from_bytes(read()))
            if readme:
                yield readme


def _package_roots(entries: list[_Entry]) -> list[PurePosixPath]:
    """Packages at the top or under src/; a wheel's top-level modules too (an sdist's are
    setup.py and friends)."""
    paths = {entry[0] for entry in entries}
    roots = sorted(path.parent for path in paths if path.name == "__init__.py" and (
        len(path.parts) == 2 or (len(path.parts) == 3 and path.parts[0] == "src")))
    roots = [root for root in roots if not _skipped_part(root.name)]
    if any(path.parts[0].endswith(".dist-info") for path in paths):
        roots += sorted(path for path in paths if len(path.parts) == 1 and path.suffix == ".py")
    return roots


def _archive_entries(data: bytes, filename: str) -> list[_Entry]:
    """Every regular file of the archive after the safety checks, an sdist's
    "name-version/" folder stripped."""
    if data.startswith(b"PK\x03\x04"):
        entries = _zip_entries(data, filename)
    elif data.startswith(b"\x1f\x8b"):
        entries = _tar_entries(_gunzip(data, filename), filename)
    elif data[257:262] == b"ustar":
        entries = _tar_entries(data, filename)
    else:
        raise DocumentError(f"{filename} is not a .tar.gz, .tgz, .zip or .whl source archive")
    return _strip_top_folder([entry for entry in entries if entry[0].parts])


def _checked_path(name: str, filename: str) -> PurePosixPath:
    normalized = name.replace("\\", "/")
    path = PurePosixPath(normalized)
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized) or ".." in path.parts:
        raise DocumentError(f"{filename} was refused: member {name!r} points outside the archive")
    return path


class _Budget:
    """Counts members and declared sizes, refusing archive bombs before they unpack."""

    def __init__(self, filename: str) -> None:
        self.filename, self.members, self.bytes = filename, 0, 0

    def add(self, size: int) -> None:
        self.members += 1
        self.bytes += size
        if self.members > MAX_ARCHIVE_MEMBERS:
            raise DocumentError(f"{self.filename} was refused: more than {MAX_ARCHIVE_MEMBERS} files")
        if self.bytes > MAX_ARCHIVE_BYTES:
            raise DocumentError(f"{self.filename} was refused: it unpacks to more than "
                                f"{MAX_ARCHIVE_BYTES // (1024 * 1024)} MB")


def _zip_entries(data: bytes, filename: str) -> list[_Entry]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(f"{filename} could not be read as a zip archive: {exc}") from exc
    budget, entries = _Budget(filename), []
    for info in infos:
        budget.add(info.file_size)
        path = _checked_path(info.filename, filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DocumentError(f"{filename} was refused: member {info.filename!r} is a symbolic link")
        if not info.is_dir():
            # ZipExtFile stops at the declared size, so a lying header cannot unpack more.
            entries.append((path, info.file_size, _zip_reader(archive, info, filename)))
    return entries


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, filename: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return archive.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, zlib.error) as exc:
            raise DocumentError(f"{filename} is damaged: {info.filename} could not be unpacked ({exc})") from exc
    return read


def _gunzip(data: bytes, filename: str) -> bytes:
    """Decompress with a ceiling, so a gzip bomb stops at the limit instead of filling memory."""
    ceiling = MAX_ARCHIVE_BYTES + 1024 * MAX_ARCHIVE_MEMBERS  # tar headers and padding on top
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        raw = decompressor.decompress(data, ceiling + 1)
    except zlib.error as exc:
        raise DocumentError(f"{filename} could not be read as a gzip archive: {exc}") from exc
    if len(raw) > ceiling:
        raise DocumentError(f"{filename} was refused: it unpacks to more than "
                            f"{MAX_ARCHIVE_BYTES // (1024 * 1024)} MB")
    return raw


def _tar_entries(raw: bytes, filename: str) -> list[_Entry]:
    budget, entries = _Budget(filename), []
    try:
        archive = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")  # noqa: SIM115 (in memory, read lazily)
        for member in archive:
            budget.add(member.size)
            path = _checked_path(member.name, filename)
            if member.issym() or member.islnk():
                raise DocumentError(f"{filename} was refused: member {member.name!r} is a link")
            if member.isfile():
                entries.append((path, member.size, _tar_reader(archive, member)))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DocumentError(f"{filename} could not be read as a tar archive: {exc}") from exc
    return entries


def _tar_reader(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        handle = archive.extractfile(member)
        return handle.read() if handle else b""
    return read


def _strip_top_folder(entries: list[_Entry]) -> list[_Entry]:
    """An sdist wraps everything in "name-version/": drop it, unless that folder is itself
    the package (a zip of just "mypkg/")."""
    tops = {entry[0].parts[0] for entry in entries if entry[0].parts}
    if len(tops) != 1 or all(len(entry[0].parts) == 1 for entry in entries):
        return entries
    top = PurePosixPath(tops.pop())
    if any(entry[0] == top / "__init__.py" for entry in entries):
        return entries
    return [(entry[0].relative_to(top), entry[1], entry[2]) for entry in entries if entry[0] != top]
