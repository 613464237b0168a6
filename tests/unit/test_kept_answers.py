"""KeptAnswers: an anonymous GET a route remembered is answered again without the route, only
while the remembered answer says it is still good, and never for a request with credentials."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, Router

from nirvana.http.kept_answers import KeptAnswers, remember


class Site:
    """A router with one route that counts its calls and remembers its answer while
    `self.fresh` holds; wrapped in KeptAnswers as the app wraps its router."""

    def __init__(self) -> None:
        self.calls = 0
        self.fresh = True
        self.kept = KeptAnswers(Router([Route("/page", self.page)]), size=2)

    async def page(self, request: Request) -> Response:
        self.calls += 1
        remember(request, lambda again: PlainTextResponse(f"kept {again.url.path}")
                 if self.fresh else None)
        return PlainTextResponse("routed")

    async def __call__(self, scope, receive, send) -> None:
        scope["app"] = self  # remember() finds the layer on the app, as on NirvanaApp
        await self.kept(scope, receive, send)

    @property
    def kept_answers(self) -> KeptAnswers:
        return self.kept


def client_of(site: Site) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=site), base_url="http://t")


async def test_a_remembered_target_is_answered_without_its_route():
    site = Site()
    async with client_of(site) as client:
        assert (await client.get("/page?a=1")).text == "routed"
        assert (await client.get("/page?a=1")).text == "kept /page"
        assert (await client.get("/page?a=2")).text == "routed"  # another target
    assert site.calls == 2


async def test_a_request_with_credentials_or_another_method_always_reaches_the_route():
    site = Site()
    async with client_of(site) as client:
        await client.get("/page")
        assert (await client.get("/page", headers={"Authorization": "Bearer x"})).text \
            == "routed"
        assert (await client.get("/page", headers={"Cookie": "jwt=x"})).text == "routed"
        assert (await client.head("/page")).status_code == 200
        assert site.calls == 4


async def test_an_answer_no_longer_good_goes_to_the_route_which_remembers_it_again():
    site = Site()
    async with client_of(site) as client:
        await client.get("/page")
        site.fresh = False
        assert (await client.get("/page")).text == "routed"  # and remembered again
        site.fresh = True
        assert (await client.get("/page")).text == "kept /page"
    assert site.calls == 2


async def test_it_remembers_a_bounded_number_of_targets():
    site = Site()  # size 2
    async with client_of(site) as client:
        for n in (1, 2, 3):
            await client.get(f"/page?n={n}")
        assert (await client.get("/page?n=1")).text == "routed"  # the oldest went
        assert (await client.get("/page?n=3")).text == "kept /page"
