"""The real atlassian-python-api client, through ConfluenceClient, against the fake Confluence."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from services.integrations.base import (
    IntegrationAuthError,
    IntegrationError,
    IntegrationRateLimited,
)
from services.integrations.confluence.client import ConfluenceClient, PageGone
from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.llm_providers import refused_url

SPACE_LISTING = "/rest/api/space/ENG/content/page"


@pytest.fixture
def fake() -> Iterator[FakeConfluence]:
    with FakeConfluence() as server:
        server.add_space("ENG", "Engineering")
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """What the client asked to sleep; nothing really waits."""
    return []


@pytest.fixture
def client(fake: FakeConfluence, sleeps: list[float]) -> ConfluenceClient:
    return ConfluenceClient(fake.url, fake.token, sleep=sleeps.append, max_wait=30)


def build_tree(fake: FakeConfluence, space: str = "ENG") -> dict[str, str | None]:
    """60 pages on three levels: 30 roots (two listing pages at the server's 25), the first root
    with 26 children (two listing pages), one of those with 4 children. Returns id -> parent id."""
    parents: dict[str, str | None] = {}
    roots = [fake.add_page(space, f"Root {n}", f"<p>root {n}</p>") for n in range(30)]
    parents.update(dict.fromkeys(roots))
    children = [fake.add_page(space, f"Child {n}", parent_id=roots[0]) for n in range(26)]
    parents.update(dict.fromkeys(children, roots[0]))
    grandchildren = [fake.add_page(space, f"Grandchild {n}", parent_id=children[3]) for n in range(4)]
    parents.update(dict.fromkeys(grandchildren, children[3]))
    return parents


def starts(fake: FakeConfluence, path_suffix: str) -> list[str | None]:
    """The `start` of each request to a listing, in order (None: the first, unpaged request)."""
    return [r.query.get("start", [None])[0] for r in fake.requests_to(path_suffix)]


# -- reading --------------------------------------------------------------------------------------


def test_server_title_is_the_signed_in_users_name_over_a_bearer_token(fake, client):
    assert client.server_title() == "Ann Example"
    assert [(r.path, r.auth) for r in fake.requests] == [("/rest/api/user/current", "bearer")]


def test_spaces_are_listed_across_result_pages(fake, client):
    for n in range(30):
        fake.add_space(f"S{n:02d}", f"Space {n}")
    spaces = client.spaces()
    assert len(spaces) == 31
    assert len({space.key for space in spaces}) == 31
    eng = next(space for space in spaces if space.key == "ENG")
    assert (eng.name, eng.url) == ("Engineering", f"{fake.url}/display/ENG")
    assert starts(fake, "/rest/api/space") == [None, "25"]


def test_a_space_crawl_yields_every_page_once_following_next_links(fake, client):
    parents = build_tree(fake)
    fake.add_space("OPS", "Operations")
    fake.add_page("OPS", "Elsewhere")

    refs = list(client.pages("ENG"))

    ids = [ref.id for ref in refs]
    assert len(ids) == 60
    assert set(ids) == set(parents)
    position = {page_id: n for n, page_id in enumerate(ids)}
    assert all(position[parent] < position[child] for child, parent in parents.items() if parent)
    assert {(ref.space_key, ref.version) for ref in refs} == {("ENG", 1)}
    assert refs[0].title == "Root 0"
    assert starts(fake, SPACE_LISTING) == [None, "25"]
    first_root = ids[0]
    assert starts(fake, f"/content/{first_root}/child/page") == [None, "25"]
    listing = fake.requests_to(SPACE_LISTING)[0]
    assert listing.query["depth"] == ["root"] and listing.query["expand"] == ["version"]


@pytest.mark.parametrize("trailing_empty_page", [False, True])
def test_a_listing_exactly_as_long_as_the_limit_loses_and_repeats_nothing(sleeps, trailing_empty_page):
    with FakeConfluence(trailing_empty_page=trailing_empty_page) as fake:
        fake.add_space("ENG", "Engineering")
        roots = [fake.add_page("ENG", f"Root {n}") for n in range(50)]
        client = ConfluenceClient(fake.url, fake.token, sleep=sleeps.append)
        assert [ref.id for ref in client.pages("ENG")] == roots
        expected = [None, "25", "50"] if trailing_empty_page else [None, "25"]
        assert starts(fake, SPACE_LISTING) == expected


def test_a_page_listed_twice_when_offsets_shift_is_yielded_once(fake, client):
    roots = [fake.add_page("ENG", f"Root {n}") for n in range(30)]
    seen = []
    for ref in client.pages("ENG"):
        seen.append(ref.id)
        if len(seen) == 25:  # the first result page is used up; a new first page shifts the rest by one
            fake.add_page("ENG", "Brand new", first=True)
    assert seen == roots
    second = fake.requests_to(SPACE_LISTING)[1]
    assert second.query["start"] == ["25"]


def test_page_has_body_labels_version_parent_and_absolute_url(fake, client):
    parent = fake.add_page("ENG", "Guides")
    page_id = fake.add_page("ENG", "Install", "<h1>Install</h1><p>Run it.</p>", parent_id=parent,
                            labels=("howto", "linux"))
    fake.edit_page(page_id, body="<h1>Install</h1><p>Run it twice.</p>")

    page = client.page(page_id)

    assert page.id == page_id
    assert page.title == "Install"
    assert page.storage == "<h1>Install</h1><p>Run it twice.</p>"
    assert page.version == 2
    assert page.labels == ("howto", "linux")
    assert page.space_key == "ENG"
    assert page.parent_id == parent
    assert page.url == f"{fake.url}/pages/viewpage.action?pageId={page_id}"
    assert client.page(parent).parent_id is None
    expand = fake.requests_to(f"/rest/api/content/{page_id}")[0].query["expand"]
    assert expand == ["body.storage,version,metadata.labels,space,ancestors"]


def test_labels_beyond_the_expansion_are_paged_in(sleeps):
    with FakeConfluence(label_expand_limit=2, max_limit=2) as fake:
        fake.add_space("ENG", "Engineering")
        labels = ("a", "b", "c", "d", "e")
        page_id = fake.add_page("ENG", "Tagged", labels=labels)
        client = ConfluenceClient(fake.url, fake.token, sleep=sleeps.append)
        assert client.page(page_id).labels == labels
        assert starts(fake, f"/content/{page_id}/label") == ["2", "4"]


def test_a_cloud_style_site_with_a_context_path_and_basic_auth(sleeps):
    with FakeConfluence(context="/wiki") as fake:
        fake.add_space("ENG", "Engineering")
        parents = build_tree(fake)
        client = ConfluenceClient(fake.url, fake.api_token, email=fake.email, sleep=sleeps.append)
        assert client.cloud is False  # 127.0.0.1 is no *.atlassian.net host, whatever the auth

        assert {ref.id for ref in client.pages("ENG")} == set(parents)
        page_id = next(iter(parents))
        assert client.page(page_id).url == f"{fake.origin}/wiki/pages/viewpage.action?pageId={page_id}"
        assert {r.auth for r in fake.requests} == {"basic"}
        assert all(r.path.startswith("/wiki/rest/api/") for r in fake.requests)
        assert starts(fake, "/wiki" + SPACE_LISTING) == [None, "25"]


@pytest.mark.parametrize("prefix", ["/wiki", "wiki", "origin"])
def test_next_links_with_the_context_path_or_absolute_are_followed(sleeps, prefix):
    with FakeConfluence(context="/wiki") as fake:
        fake.next_prefix = fake.origin + "/wiki" if prefix == "origin" else prefix
        fake.add_space("ENG", "Engineering")
        roots = [fake.add_page("ENG", f"Root {n}") for n in range(30)]
        client = ConfluenceClient(fake.url, fake.token, sleep=sleeps.append)
        assert [ref.id for ref in client.pages("ENG")] == roots
        assert starts(fake, "/wiki" + SPACE_LISTING) == [None, "25"]


def test_a_next_link_to_another_host_is_not_followed(fake, client):
    fake.next_prefix = "http://elsewhere.example"
    for n in range(30):
        fake.add_page("ENG", f"Root {n}")
    with pytest.raises(IntegrationError, match="another host"):
        list(client.pages("ENG"))
    assert len(fake.requests_to(SPACE_LISTING)) == 1


def test_a_page_deleted_mid_crawl_does_not_stop_the_crawl(fake, client):
    a = fake.add_page("ENG", "A")
    b = fake.add_page("ENG", "B")
    a1 = fake.add_page("ENG", "A1", parent_id=a)
    fake.add_page("ENG", "A1a", parent_id=a1)
    seen = []
    for ref in client.pages("ENG"):
        seen.append(ref.id)
        if ref.id == a1:
            fake.delete_page(a1)  # before the crawl lists its children
    assert seen == [a, a1, b]
    with pytest.raises(PageGone):
        client.page(a1)


# -- failures -------------------------------------------------------------------------------------


def secret_free(exc: BaseException, secret: str) -> bool:
    """The secret is in no message of the exception or of what it was raised from."""
    chain: BaseException | None = exc
    while chain is not None:
        if secret in str(chain) or secret in repr(chain.args):
            return False
        chain = chain.__cause__ or chain.__context__
    return True


def test_a_wrong_token_is_an_auth_error_that_does_not_show_the_token(fake, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-value-123"
    client = ConfluenceClient(fake.url, wrong, sleep=sleeps.append)
    with pytest.raises(IntegrationAuthError, match="Confluence refused the token") as raised:
        client.spaces()
    assert "personal access token" in str(raised.value)
    assert secret_free(raised.value, wrong)
    assert wrong not in caplog.text
    assert sleeps == []


def test_a_wrong_cloud_api_token_names_the_email_and_api_token(fake, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    client = ConfluenceClient(fake.url, "bad-api-token-456", email=fake.email, sleep=sleeps.append)
    with pytest.raises(IntegrationAuthError, match="email address and API token") as raised:
        client.server_title()
    assert secret_free(raised.value, "bad-api-token-456")
    assert "bad-api-token-456" not in caplog.text


def test_the_right_token_never_reaches_the_logs(fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    build_tree(fake)
    client.server_title()
    list(client.pages("ENG"))
    assert caplog.records  # the library did log its requests
    assert fake.token not in caplog.text


def test_403_is_an_auth_error(fake, client):
    fake.fail(403)
    with pytest.raises(IntegrationAuthError, match="HTTP 403"):
        client.server_title()


def test_429_waits_for_retry_after_then_succeeds(fake, client, sleeps):
    fake.fail(429, retry_after=7)
    assert client.server_title() == "Ann Example"
    assert sleeps == [7.0]
    assert len(fake.requests) == 2


def test_429_in_the_middle_of_a_listing_retries_that_request_only(fake, client, sleeps):
    parents = build_tree(fake)
    fake.fail(429, times=2, retry_after=2, path_contains="/child/page")
    assert sorted(ref.id for ref in client.pages("ENG")) == sorted(parents)
    assert sleeps == [2.0, 2.0]
    assert starts(fake, SPACE_LISTING) == [None, "25"]


def test_429_forever_gives_up_once_max_wait_would_be_passed(fake, sleeps):
    fake.fail(429, times=None, retry_after=1)
    client = ConfluenceClient(fake.url, fake.token, sleep=sleeps.append, max_wait=3.5)
    with pytest.raises(IntegrationRateLimited) as raised:
        client.spaces()
    assert sleeps == [1.0, 1.0, 1.0]
    assert raised.value.retry_after == 1.0
    assert len(fake.requests) == 4


def test_429_without_retry_after_backs_off_exponentially(fake, sleeps):
    fake.fail(429, times=None)
    client = ConfluenceClient(fake.url, fake.token, sleep=sleeps.append, max_wait=10)
    with pytest.raises(IntegrationRateLimited):
        client.server_title()
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_retry_after_date_falls_back_to_backoff(fake, client, sleeps):
    fake.fail(429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    assert client.server_title() == "Ann Example"
    assert sleeps == [1.0]


def test_a_retry_after_beyond_max_wait_gives_up_at_once(fake, sleeps):
    fake.fail(429, times=None, retry_after=120)
    client = ConfluenceClient(fake.url, fake.token, sleep=sleeps.append, max_wait=60)
    with pytest.raises(IntegrationRateLimited) as raised:
        client.server_title()
    assert sleeps == []
    assert raised.value.retry_after == 120


def test_500_is_an_integration_error_without_retry(fake, client, sleeps):
    fake.fail(500, path_contains="/rest/api/space")
    with pytest.raises(IntegrationError, match="HTTP 500") as raised:
        client.spaces()
    assert type(raised.value) is IntegrationError
    assert len(fake.requests) == 1
    assert sleeps == []


def test_an_unreachable_server_is_an_integration_error(sleeps):
    client = ConfluenceClient(refused_url(), "token", sleep=sleeps.append)
    with pytest.raises(IntegrationError, match="Could not reach Confluence"):
        client.server_title()


def test_a_server_slower_than_the_timeout_is_an_integration_error(fake, sleeps):
    fake.fail(200, delay=2.0)
    client = ConfluenceClient(fake.url, fake.token, timeout=1, sleep=sleeps.append)
    with pytest.raises(IntegrationError, match="timed out"):
        client.server_title()


def test_a_login_page_instead_of_json_is_an_integration_error(fake, client):
    fake.fail(200, body="<html><body>Log in with SSO</body></html>", content_type="text/html")
    with pytest.raises(IntegrationError, match="did not answer with JSON"):
        client.spaces()


def test_a_deleted_page_is_page_gone(fake, client):
    page_id = fake.add_page("ENG", "Old")
    assert client.page(page_id).title == "Old"
    fake.delete_page(page_id)
    with pytest.raises(PageGone) as raised:
        client.page(page_id)
    assert isinstance(raised.value, IntegrationError)


def test_an_unknown_space_is_an_integration_error_not_page_gone(client):
    with pytest.raises(IntegrationError, match="space NOPE") as raised:
        list(client.pages("NOPE"))
    assert not isinstance(raised.value, PageGone)


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "cloud", "site"),
    [
        ("https://acme.atlassian.net/wiki", True, "https://acme.atlassian.net/wiki"),
        ("https://acme.atlassian.net/", True, "https://acme.atlassian.net/wiki"),
        ("https://confluence.example.com/", False, "https://confluence.example.com"),
        ("https://wiki.example.com/confluence/", False, "https://wiki.example.com/confluence"),
        ("https://acme.atlassian.net.example.com", False, "https://acme.atlassian.net.example.com"),
    ],
)
def test_cloud_is_chosen_from_the_host_alone(url, cloud, site):
    client = ConfluenceClient(url, "token", email="ann@example.com")
    assert (client.cloud, client.url) == (cloud, site)
    assert client._api.cloud is cloud  # the flag reaches the library client


@pytest.mark.parametrize(
    "url", ["confluence.example.com", "ftp://wiki.example.com", "https://ann:pw@wiki.example.com"]
)
def test_a_malformed_url_is_refused(url):
    with pytest.raises(IntegrationError):
        ConfluenceClient(url, "token")
