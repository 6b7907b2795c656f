"""Code-library symbols come from the source's syntax tree only; uploaded archives are read
in memory and refused when they try to escape, link, or explode."""

from __future__ import annotations

import gzip
import logging
import sys
import textwrap

import pytest

from services.search import symbols
from services.search.documents import DocumentError
from services.search.symbols import (
    Symbol,
    archive_docs,
    find_symbol_mentions,
    installed_package_root,
    package_docs,
    symbol_document,
    symbols_from_source,
    walk_archive,
    walk_package,
)
from tests.doc_samples import targz_bytes, zip_bytes

SOURCE = textwrap.dedent('''
    """Sessions: connection pooling and cookies."""
    from typing import overload

    DEFAULT_TIMEOUT = 30
    RETRIES: tuple[int, ...] = (1, 2, 4)
    HANDLER = object()
    _PRIVATE = 1
    lower_name = 2


    def every_kind(a, b: int = 1, /, c=2, *args: str, d, e: bool = False, **kwargs) -> None:
        """All parameter kinds."""


    def keyword_only(x, *, y=3):
        pass


    async def fetch(url: str) -> bytes:
        ...


    def _helper():
        pass


    @overload
    def pick(x: int) -> int: ...
    @overload
    def pick(x: str) -> str: ...
    def pick(x):
        return x


    class Session(Base, metaclass=Meta):
        """A session."""

        def __init__(self, url, /, timeout: float = 5.0):
            """Open it."""

        def get(self, url, **kwargs) -> "Response":
            """Send a GET request."""

        async def aclose(self):
            pass

        @property
        def closed(self) -> bool:
            return False

        @closed.setter
        def closed(self, value):
            pass

        @staticmethod
        def parse(text):
            pass

        @classmethod
        def from_env(cls, *, prefix="APP_"):
            pass

        def _internal(self):
            pass

        class Adapter:
            def send(self, request):
                pass

    class _Hidden:
        def visible_in_hidden(self):
            pass
''')


@pytest.fixture(scope="module")
def found() -> dict[str, Symbol]:
    return {s.qualname: s for s in symbols_from_source("pkg.sessions", SOURCE, "pkg/sessions.py")}


def test_the_module_comes_first_with_its_docstring():
    listed = symbols_from_source("pkg.sessions", SOURCE, "pkg/sessions.py")
    module = listed[0]
    assert (module.kind, module.qualname, module.name, module.docstring) == (
        "module", "pkg.sessions", "sessions", "Sessions: connection pooling and cookies.")
    assert (module.file, module.line, module.end_line) == ("pkg/sessions.py", 1, len(SOURCE.splitlines()))


def test_signatures_keep_every_parameter_kind(found):
    assert found["pkg.sessions.every_kind"].signature == (
        "(a, b: int = 1, /, c=2, *args: str, d, e: bool = False, **kwargs) -> None")
    assert found["pkg.sessions.keyword_only"].signature == "(x, *, y=3)"
    assert found["pkg.sessions.every_kind"].docstring == "All parameter kinds."


def test_kinds_of_functions_and_methods(found):
    kinds = {name: found[f"pkg.sessions.{name}"].kind for name in (
        "every_kind", "fetch", "Session", "Session.get", "Session.aclose", "Session.closed", "Session.parse",
        "Session.from_env", "Session.__init__", "Session.Adapter", "Session.Adapter.send")}
    assert kinds == {
        "every_kind": "function", "fetch": "async function", "Session": "class", "Session.get": "method",
        "Session.aclose": "async method", "Session.closed": "property", "Session.parse": "method",
        "Session.from_env": "method", "Session.__init__": "method", "Session.Adapter": "class",
        "Session.Adapter.send": "method",
    }
    assert found["pkg.sessions.Session.parse"].signature == "(text)"
    assert found["pkg.sessions.Session.from_env"].signature == "(cls, *, prefix='APP_')"
    assert found["pkg.sessions.Session.closed"].signature == "(self) -> bool"


def test_a_class_takes_its_init_signature_without_self(found):
    session = found["pkg.sessions.Session"]
    assert session.signature == "(url, /, timeout: float = 5.0)"
    assert session.bases == "Base, metaclass=Meta"
    assert session.docstring == "A session."
    assert found["pkg.sessions.Session.Adapter"].signature == ""
    assert session.line < found["pkg.sessions.Session.get"].line < session.end_line


def test_private_names_accessors_and_overload_stubs_are_left_out(found):
    names = set(found)
    assert not {n for n in names if "_helper" in n or "_internal" in n or "_Hidden" in n or "hidden" in n}
    assert [n for n in names if n.endswith(".pick")] == ["pkg.sessions.pick"]
    assert found["pkg.sessions.pick"].signature == "(x)"
    closed = [s for s in symbols_from_source("m", SOURCE, "m.py") if s.name == "closed"]
    assert len(closed) == 1


def test_upper_case_literal_constants_are_listed(found):
    constants = {s.qualname: s.signature for s in found.values() if s.kind == "constant"}
    assert constants == {"pkg.sessions.DEFAULT_TIMEOUT": " = 30", "pkg.sessions.RETRIES": " = (1, 2, 4)"}


def test_a_file_that_does_not_parse_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="services.search.symbols"):
        assert symbols_from_source("pkg.broken", "def broken(:\n", "pkg/broken.py") == []
    assert "pkg/broken.py" in caplog.text


def test_symbol_document_names_signature_place_and_docstring(found):
    assert symbol_document(found["pkg.sessions.Session.get"]) == (
        "pkg.sessions.Session.get(self, url, **kwargs) -> 'Response'\n"
        f"method in pkg/sessions.py:{found['pkg.sessions.Session.get'].line}\nSend a GET request.")
    assert "bases: Base, metaclass=Meta" in symbol_document(found["pkg.sessions.Session"])
    assert symbol_document(found["pkg.sessions.DEFAULT_TIMEOUT"]).startswith("pkg.sessions.DEFAULT_TIMEOUT = 30\n")


@pytest.mark.parametrize(("question", "expected"), [
    ("what arguments does Session.get take", ["Session.get"]),
    ("how do I call `requests.get` with a timeout?", ["requests.get"]),
    ("how do I use json_normalize", ["json_normalize"]),
    ("Is a DataFrame or an HTTPAdapter thread-safe?", ["DataFrame", "HTTPAdapter"]),
    ("what does `get` return, e.g. for get() or DEFAULT_TIMEOUT", ["get", "DEFAULT_TIMEOUT"]),
    ("how do I install it", []),
])
def test_symbol_mentions_are_found_in_questions(question, expected):
    assert find_symbol_mentions(question) == expected


# --- installed packages ------------------------------------------------------------------

def test_an_installed_package_is_found_without_importing_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "jmespath", raising=False)
    root = installed_package_root("jmespath")
    assert root.name == "jmespath" and (root / "__init__.py").is_file()
    assert "jmespath" not in sys.modules


def test_an_installed_package_is_walked_into_symbols():
    modules = {name: (file, source) for name, file, source in walk_package(installed_package_root("jmespath"))}
    assert modules["jmespath"][0] == "jmespath/__init__.py"
    assert modules["jmespath.functions"][0] == "jmespath/functions.py"
    found = {s.qualname: s for name, (file, source) in modules.items() for s in symbols_from_source(name, source, file)}
    assert found["jmespath.search"].signature == "(expression, data, options=None)"
    assert found["jmespath.parser.Parser"].kind == "class"


def test_dotted_and_distribution_names_find_their_directory():
    assert installed_package_root("rq.worker").parts[-2:] == ("rq", "worker")
    assert installed_package_root("beautifulsoup4").name == "bs4"


@pytest.mark.parametrize("name", ["no_such_package_here", "rq.no_such_module", "../etc", ""])
def test_a_missing_package_is_a_document_error(name):
    with pytest.raises(DocumentError, match="No installed Python package called"):
        installed_package_root(name)


def test_a_builtin_module_has_no_source():
    with pytest.raises(DocumentError, match="no Python source"):
        installed_package_root("sys")


def test_package_docs_reads_the_readme_from_the_metadata():
    docs = dict(package_docs(installed_package_root("jmespath")))
    assert len(docs) == 1
    assert "jmespath" in next(iter(docs.values())).decode().lower()


def test_walk_package_skips_tests_caches_hidden_and_huge_files(tmp_path):
    root = tmp_path / "mypkg"
    for relative, body in {
        "__init__.py": "X = 1\n", "core.py": "def run(): pass\n", "sub/__init__.py": "",
        "sub/deep.py": "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n", "tests/test_core.py": "",
        "__pycache__/core.py": "", ".hidden/secret.py": "", "notes.txt": "not python",
        "big.py": "#" * (symbols.MAX_SOURCE_BYTES + 1),
    }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body.encode("latin-1"))
    modules = {name: (file, source) for name, file, source in walk_package(root)}
    assert sorted(modules) == ["mypkg", "mypkg.core", "mypkg.sub", "mypkg.sub.deep"]
    assert modules["mypkg.sub.deep"] == ("mypkg/sub/deep.py", "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n")


def test_walk_package_names_a_subpackage_by_its_dotted_name():
    modules = {name: file for name, file, _ in walk_package(installed_package_root("rq.worker"), package="rq.worker")}
    assert modules["rq.worker"] == "rq/worker/__init__.py"
    assert all(name.startswith("rq.worker") and file.startswith("rq/worker/") for name, file in modules.items())


def test_walk_package_uses_the_import_name_over_a_distribution_name():
    modules = {name for name, _, _ in walk_package(installed_package_root("beautifulsoup4"), package="beautifulsoup4")}
    assert "bs4" in modules and "bs4.element" in modules


def test_walk_package_reads_a_single_module_file(tmp_path):
    module = tmp_path / "six.py"
    module.write_text("def moves(): pass\n")
    assert list(walk_package(module)) == [("six", "six.py", "def moves(): pass\n")]


# --- archives ------------------------------------------------------------------------------

SDIST = {
    "pkg-1.0/setup.py": "from setuptools import setup\n",
    "pkg-1.0/README.md": "# pkg\n\nDoes things.\n",
    "pkg-1.0/docs/guide.rst": "Guide\n=====\n",
    "pkg-1.0/docs/api/index.md": "# API\n",
    "pkg-1.0/docs/logo.png": "not text",
    "pkg-1.0/pkg/__init__.py": '"""The pkg."""\n',
    "pkg-1.0/pkg/core.py": "def run(x): pass\n",
    "pkg-1.0/pkg/tests/test_core.py": "def test(): pass\n",
    "pkg-1.0/tests/__init__.py": "",
    "pkg-1.0/tests/test_pkg.py": "",
}


def modules_in(archive: bytes, filename: str) -> dict[str, str]:
    return {name: file for name, file, _ in walk_archive(archive, filename)}


def test_an_sdist_is_read_with_its_top_folder_stripped():
    assert modules_in(targz_bytes(SDIST), "pkg-1.0.tar.gz") == {"pkg": "pkg/__init__.py", "pkg.core": "pkg/core.py"}


def test_a_src_layout_zip_is_read():
    archive = zip_bytes({"proj-2.0/src/proj/__init__.py": "", "proj-2.0/src/proj/api.py": "def f(): pass\n",
                         "proj-2.0/pyproject.toml": "[project]\n"})
    assert modules_in(archive, "proj-2.0.zip") == {"proj": "proj/__init__.py", "proj.api": "proj/api.py"}


def test_a_wheel_yields_packages_and_top_level_modules():
    archive = zip_bytes({
        "tool/__init__.py": "", "tool/cli.py": "def main(): pass\n", "helper.py": "def h(): pass\n",
        "tool-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tool\n"
                                       "Description-Content-Type: text/markdown\n\n# Tool\n\nUsage notes.\n",
    })
    assert modules_in(archive, "tool-1.0-py3-none-any.whl") == {
        "tool": "tool/__init__.py", "tool.cli": "tool/cli.py", "helper": "helper.py"}
    assert dict(archive_docs(archive, "tool.whl")) == {"README.md": b"# Tool\n\nUsage notes.\n"}


def test_a_zip_of_just_the_package_folder_keeps_it():
    archive = zip_bytes({"mypkg/__init__.py": "", "mypkg/util.py": ""})
    assert modules_in(archive, "mypkg.zip") == {"mypkg": "mypkg/__init__.py", "mypkg.util": "mypkg/util.py"}


def test_archive_docs_are_the_readme_and_the_docs_folder():
    docs = dict(archive_docs(targz_bytes(SDIST), "pkg-1.0.tar.gz"))
    assert docs == {"README.md": b"# pkg\n\nDoes things.\n", "docs/guide.rst": b"Guide\n=====\n",
                    "docs/api/index.md": b"# API\n"}


def test_an_archive_without_a_package_is_refused():
    with pytest.raises(DocumentError, match="contains no Python package"):
        list(walk_archive(targz_bytes({"x-1.0/setup.py": "", "x-1.0/README": "hi"}), "x.tar.gz"))


def test_something_that_is_not_an_archive_is_refused():
    with pytest.raises(DocumentError, match="is not a .tar.gz"):
        list(walk_archive(b"just some text", "notes.tgz"))


@pytest.mark.parametrize("member", ["pkg-1.0/../../etc/evil.py", "/etc/passwd", "pkg/../../x.py", "C:/win.py"])
@pytest.mark.parametrize("build", [targz_bytes, zip_bytes])
def test_members_escaping_the_archive_are_refused(build, member):
    archive = build({"pkg/__init__.py": "", member: "boom"})
    with pytest.raises(DocumentError, match="points outside the archive"):
        list(walk_archive(archive, "evil"))
    with pytest.raises(DocumentError, match="points outside the archive"):
        list(archive_docs(archive, "evil"))


def test_links_are_refused():
    with pytest.raises(DocumentError, match="is a link"):
        list(walk_archive(targz_bytes({"pkg/__init__.py": ""}, symlinks={"pkg/etc.py": "/etc/passwd"}), "l.tgz"))
    archive = zip_bytes({"pkg/__init__.py": "", "pkg/etc.py": "/etc/passwd"}, symlinks=("pkg/etc.py",))
    with pytest.raises(DocumentError, match="is a symbolic link"):
        list(walk_archive(archive, "l.zip"))


@pytest.mark.parametrize("build", [targz_bytes, zip_bytes])
def test_an_archive_bomb_is_refused_by_its_unpacked_size(build, monkeypatch):
    monkeypatch.setattr(symbols, "MAX_ARCHIVE_BYTES", 1024 * 1024)
    archive = build({"pkg/__init__.py": "", "pkg/zeros.py": b"\0" * (3 * 1024 * 1024)})
    assert len(archive) < 64 * 1024
    with pytest.raises(DocumentError, match="unpacks to more than 1 MB"):
        list(walk_archive(archive, "bomb"))


def test_a_gzip_bomb_stops_at_the_ceiling(monkeypatch):
    monkeypatch.setattr(symbols, "MAX_ARCHIVE_BYTES", 1024 * 1024)
    monkeypatch.setattr(symbols, "MAX_ARCHIVE_MEMBERS", 10)
    with pytest.raises(DocumentError, match="unpacks to more than 1 MB"):
        list(walk_archive(gzip.compress(b"\0" * (4 * 1024 * 1024)), "bomb.tar.gz"))


@pytest.mark.parametrize("build", [targz_bytes, zip_bytes])
def test_too_many_members_are_refused(build, monkeypatch):
    monkeypatch.setattr(symbols, "MAX_ARCHIVE_MEMBERS", 5)
    archive = build({f"pkg/m{i}.py": "" for i in range(8)} | {"pkg/__init__.py": ""})
    with pytest.raises(DocumentError, match="more than 5 files"):
        list(walk_archive(archive, "many"))
