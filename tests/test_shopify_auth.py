"""Admin API tokens against the fake Shopify over real loopback sockets: client credentials, the install (authorization
code grant), expiring offline tokens and their refresh, one renewal shared by concurrent requests, and tokens at rest."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from agent.connect import admin_from_settings
from evals.fakes.shopify_admin import CLIENT_ID, CLIENT_SECRET, FakeShopify
from shopify.auth import (
    AccessToken,
    AuthorizationCodeToken,
    ClientCredentialsToken,
    DatabaseStateStore,
    EncryptedTokenStore,
    InvalidOAuthRequest,
    MemoryTokenStore,
    OAuthApp,
    OAuthInstall,
    ReauthorizationRequired,
    ShopNotPermitted,
    StaticToken,
    TokenCipher,
    fernet_key,
    normalize_shop,
)
from shopify.client import ShopifyAdmin
from shopify.scopes import APP_SCOPES
from shopify.source import OrderSourceUnavailable
from shopify.store_file import DEMO_STORE
from storage import Database

SHOP = "harbor-and-pine.myshopify.com"
REDIRECT = "https://lumen.example.com/auth/callback"


class WallClock:
    """One settable clock for both sides: the fake's token expiry (seconds) and Lumen's (datetimes)."""

    def __init__(self) -> None:
        self.t = datetime(2026, 11, 27, 9, 0, tzinfo=UTC).timestamp()

    def seconds(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def shopify(wall: WallClock) -> Iterator[FakeShopify]:
    with FakeShopify(DEMO_STORE, now=wall.seconds) as fake:
        yield fake


def oauth_app(fake: FakeShopify, **kwargs: object) -> OAuthApp:
    options: dict[str, object] = {"shop_url": fake.base_url} | kwargs
    return OAuthApp(CLIENT_ID, SecretStr(CLIENT_SECRET), **options)  # type: ignore[arg-type]


def admin(fake: FakeShopify, tokens: ClientCredentialsToken | AuthorizationCodeToken | StaticToken) -> ShopifyAdmin:
    return ShopifyAdmin(fake.url, tokens, cache_ttl_s=0)


# --- client credentials ------------------------------------------------------------------------------------------


async def test_client_credentials_token_expiring_mid_conversation_is_renewed_unnoticed(
    shopify: FakeShopify, wall: WallClock
) -> None:
    tokens = ClientCredentialsToken(oauth_app(shopify), SHOP, now=wall.now)
    async with admin(shopify, tokens) as client:
        assert [o.name for o in await client.orders_by_name("1042")] == ["#1042"]
        first = await tokens.token()
        assert tokens.expires_at == wall.now() + timedelta(seconds=86_399)
        assert tokens.granted_scopes == APP_SCOPES | {"read_all_orders"}
        wall.advance(86_400)  # the next day, same conversation: the token Lumen holds has expired at Shopify
        assert [o.name for o in await client.orders_by_name("1031")] == ["#1031"]
        assert (await tokens.token()).get_secret_value() != first.get_secret_value()
        assert client.status.token_expires_at == wall.now() + timedelta(seconds=86_399)
    assert shopify.grants == ["client_credentials", "client_credentials"]
    assert tokens.renewals == 2


async def test_token_is_renewed_shortly_before_it_expires(shopify: FakeShopify, wall: WallClock) -> None:
    tokens = ClientCredentialsToken(oauth_app(shopify), SHOP, now=wall.now)
    await tokens.token()
    wall.advance(86_399 - 60)  # still valid for a minute: inside the renewal margin, so renewed now
    await tokens.token()
    wall.advance(60)
    await tokens.token()
    assert shopify.grants == ["client_credentials", "client_credentials"]


async def test_a_401_triggers_one_renewal_shared_by_concurrent_requests(shopify: FakeShopify, wall: WallClock) -> None:
    tokens = ClientCredentialsToken(oauth_app(shopify), SHOP, now=wall.now)
    async with admin(shopify, tokens) as client:
        await client.shop()
        shopify.revoke_tokens()  # e.g. the app's secret was rotated: every token Lumen holds is now refused
        numbers = ["1031", "1042", "1050", "1088", "1089"]
        found = await asyncio.gather(*(client.orders_by_name(n) for n in numbers))
    assert [[o.name for o in orders] for orders in found] == [[f"#{n}"] for n in numbers]
    assert shopify.grants == ["client_credentials", "client_credentials"]  # the first token, then ONE renewal


async def test_a_second_401_after_renewal_is_unavailable(shopify: FakeShopify, wall: WallClock) -> None:
    class Refused(ClientCredentialsToken):
        async def refresh(self, stale: SecretStr) -> SecretStr:
            await super().refresh(stale)
            shopify.revoke_tokens()  # the renewed token is refused too (the app was uninstalled)
            return stale

    tokens = Refused(oauth_app(shopify), SHOP, now=wall.now)
    async with admin(shopify, tokens) as client:
        await client.shop()
        shopify.revoke_tokens()
        with pytest.raises(OrderSourceUnavailable, match="401 again"):
            await client.orders_by_name("1042")


async def test_shop_not_permitted_is_explained(wall: WallClock) -> None:
    with FakeShopify(DEMO_STORE, now=wall.seconds, org_owned=False) as fake:
        app = oauth_app(fake)
        with pytest.raises(ShopNotPermitted) as refused:
            await app.client_credentials(SHOP, now=wall.now())
        assert refused.value.code == "shop_not_permitted"
        assert "organization" in str(refused.value)
        assert "/auth/install" in str(refused.value)
        async with admin(fake, ClientCredentialsToken(app, SHOP, now=wall.now)) as client:
            with pytest.raises(OrderSourceUnavailable, match="shop_not_permitted"):
                await client.orders_by_name("1042")
            assert "organization" in (client.status.last_error or "")
        assert fake.requests == 0  # no GraphQL request without a token


async def test_wrong_client_secret_is_named(shopify: FakeShopify, wall: WallClock) -> None:
    app = OAuthApp(CLIENT_ID, "shpss_wrong", shop_url=shopify.base_url)
    with pytest.raises(Exception, match="SHOPIFY_CLIENT_SECRET") as refused:
        await app.client_credentials(SHOP, now=wall.now())
    assert "shpss_wrong" not in str(refused.value)


# --- the install: authorization code grant ----------------------------------------------------------------------


async def approve(install: OAuthInstall, fake: FakeShopify) -> list[tuple[str, str]]:
    """Open the install as Shopify does, follow Lumen's redirect to the approval page; the callback's query."""
    authorize = await install.begin(fake.install_query())
    assert authorize.startswith(f"{fake.base_url}/admin/oauth/authorize?")
    sent = dict(parse_qsl(urlsplit(authorize).query))
    assert sent["client_id"] == CLIENT_ID
    assert sent["redirect_uri"] == REDIRECT
    assert set(sent["scope"].split(",")) == APP_SCOPES
    async with httpx.AsyncClient() as http:
        response = await http.get(authorize)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qsl(urlsplit(location).query)


def make_install(fake: FakeShopify, wall: WallClock, store: MemoryTokenStore, **kwargs: object) -> OAuthInstall:
    return OAuthInstall(
        oauth_app(fake),
        scopes=APP_SCOPES,
        redirect_uri=REDIRECT,
        tokens=store,
        now=wall.now,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_install_gets_an_expiring_offline_token_that_is_refreshed(shopify: FakeShopify, wall: WallClock) -> None:
    store = MemoryTokenStore()
    install = make_install(shopify, wall, store)
    callback = await approve(install, shopify)
    assert {k for k, _ in callback} == {"code", "hmac", "host", "shop", "state", "timestamp"}
    shop, token = await install.complete(callback)
    assert shop == SHOP
    assert token.expires_at == wall.now() + timedelta(hours=1)
    assert token.refresh_token is not None
    assert await store.load(SHOP) == token

    tokens = AuthorizationCodeToken(oauth_app(shopify), SHOP, store=store, now=wall.now)
    async with admin(shopify, tokens) as client:
        assert [o.name for o in await client.orders_by_name("1042")] == ["#1042"]
        wall.advance(3_600)
        assert [o.name for o in await client.orders_by_name("1031")] == ["#1031"]
        wall.advance(3_600)
        assert [o.name for o in await client.orders_by_name("1050")] == ["#1050"]
    assert shopify.grants == ["authorization_code", "refresh_token", "refresh_token"]
    renewed = await store.load(SHOP)
    assert renewed is not None and renewed.refresh_token is not None
    assert renewed.refresh_token.get_secret_value() != token.refresh_token.get_secret_value()  # rotated on use


async def test_a_non_expiring_offline_token_is_accepted(shopify: FakeShopify, wall: WallClock) -> None:
    store = MemoryTokenStore()
    install = make_install(shopify, wall, store, expiring=False)
    _, token = await install.complete(await approve(install, shopify))
    assert token.expires_at is None and token.refresh_token is None
    tokens = AuthorizationCodeToken(oauth_app(shopify), SHOP, store=store, now=wall.now)
    async with admin(shopify, tokens) as client:
        wall.advance(365 * 86_400)
        assert [o.name for o in await client.orders_by_name("1042")] == ["#1042"]
        shopify.revoke_tokens()  # uninstalled: nothing to refresh with, so the merchant must install again
        with pytest.raises(OrderSourceUnavailable, match="install the app again"):
            await client.orders_by_name("1031")
    assert shopify.grants == ["authorization_code"]


def resign(fake: FakeShopify, query: list[tuple[str, str]], **changes: str | None) -> list[tuple[str, str]]:
    """The callback query with some parameters changed (None: removed), signed again with the real secret."""
    params = {k: v for k, v in query if k != "hmac"} | changes
    return list(fake.oauth.sign({k: v for k, v in params.items() if v is not None}).items())


async def test_callback_with_a_bad_hmac_is_refused(shopify: FakeShopify, wall: WallClock) -> None:
    install = make_install(shopify, wall, MemoryTokenStore())
    callback = await approve(install, shopify)
    tampered = [(k, "0" * 32 if k == "code" else v) for k, v in callback]
    with pytest.raises(InvalidOAuthRequest, match="HMAC"):
        await install.complete(tampered)
    assert shopify.grants == []


async def test_callback_state_is_single_use(shopify: FakeShopify, wall: WallClock) -> None:
    install = make_install(shopify, wall, MemoryTokenStore())
    callback = await approve(install, shopify)
    await install.complete(callback)
    with pytest.raises(InvalidOAuthRequest, match="already used"):
        await install.complete(callback)  # a replay, correctly signed
    assert shopify.grants == ["authorization_code"]


async def test_callback_without_our_state_is_refused(shopify: FakeShopify, wall: WallClock) -> None:
    install = make_install(shopify, wall, MemoryTokenStore())
    callback = await approve(install, shopify)
    for state in (None, "made-up-state"):
        with pytest.raises(InvalidOAuthRequest, match=r"already used|expired"):
            await install.complete(resign(shopify, callback, state=state))
    assert shopify.grants == []


async def test_state_expires(shopify: FakeShopify, wall: WallClock) -> None:
    install = make_install(shopify, wall, MemoryTokenStore())
    callback = await approve(install, shopify)
    wall.advance(11 * 60)
    with pytest.raises(InvalidOAuthRequest):
        await install.complete(resign(shopify, callback, timestamp=str(int(wall.seconds()))))


async def test_callback_for_a_shop_that_is_not_myshopify_is_refused(shopify: FakeShopify, wall: WallClock) -> None:
    install = make_install(shopify, wall, MemoryTokenStore())
    callback = await approve(install, shopify)
    for shop in ("evil.example.com", "harbor-and-pine.myshopify.com.evil.example", "x.myshopify.com/../evil"):
        with pytest.raises(InvalidOAuthRequest, match="not a Shopify store"):
            await install.complete(resign(shopify, callback, shop=shop))
    with pytest.raises(InvalidOAuthRequest, match="not a Shopify store"):
        await install.begin({"shop": "evil.example.com"})
    assert shopify.grants == []


async def test_install_request_signature_and_age_are_checked(shopify: FakeShopify, wall: WallClock) -> None:
    install = make_install(shopify, wall, MemoryTokenStore())
    signed = shopify.install_query()
    with pytest.raises(InvalidOAuthRequest, match="HMAC"):
        await install.begin(signed | {"host": "ZXZpbA"})
    wall.advance(2 * 3_600)
    with pytest.raises(InvalidOAuthRequest, match="too old"):
        await install.begin(signed)
    # Repeated parameters are refused: whichever copy is read, the other one was signed.
    wall.advance(-2 * 3_600)
    with pytest.raises(InvalidOAuthRequest, match="HMAC"):
        await install.begin([*signed.items(), ("shop", "other.myshopify.com")])
    # A merchant typing the install link by hand (no signature at all) is sent to Shopify to approve.
    assert "/admin/oauth/authorize?" in await install.begin({"shop": "Harbor-and-Pine.myshopify.com"})


async def test_previous_secret_still_verifies_during_rotation(shopify: FakeShopify, wall: WallClock) -> None:
    rotated = OAuthApp(CLIENT_ID, "shpss_new", previous_secret=CLIENT_SECRET, shop_url=shopify.base_url)
    signed = shopify.install_query()  # Shopify still signs with the old secret for a while
    assert rotated.verify_hmac(signed)
    assert not OAuthApp(CLIENT_ID, "shpss_new").verify_hmac(signed)
    assert OAuthApp(CLIENT_ID, "shpss_new").verify_hmac(OAuthApp(CLIENT_ID, "shpss_new").sign({"shop": SHOP}))


async def test_refresh_token_cannot_be_used_twice(shopify: FakeShopify, wall: WallClock) -> None:
    store = MemoryTokenStore()
    install = make_install(shopify, wall, store)
    _, token = await install.complete(await approve(install, shopify))
    assert token.refresh_token is not None
    app = oauth_app(shopify)
    await app.refresh(SHOP, token.refresh_token, now=wall.now())
    with pytest.raises(ReauthorizationRequired, match="install the app again"):
        await app.refresh(SHOP, token.refresh_token, now=wall.now())


def test_shop_names_are_normalised() -> None:
    assert normalize_shop("https://Harbor-And-Pine.myshopify.com/") == SHOP
    assert normalize_shop(" harbor-and-pine.myshopify.com ") == SHOP
    for bad in ("", "harbor-and-pine", "harbor.myshopify.com.evil.com", "https://evil.com/x.myshopify.com"):
        with pytest.raises(InvalidOAuthRequest):
            normalize_shop(bad)


# --- tokens at rest, and never in a repr --------------------------------------------------------------------------


def secret_token() -> AccessToken:
    return AccessToken(
        access_token=SecretStr("shpat_secret_value"),
        scopes=frozenset({"read_orders"}),
        expires_at=datetime(2026, 11, 27, 10, tzinfo=UTC),
        refresh_token=SecretStr("shprt_secret_value"),
    )


def test_tokens_are_encrypted_at_rest_and_round_trip() -> None:
    cipher = TokenCipher("a passphrase that is long enough to derive a key from")
    blob = cipher.encrypt(secret_token())
    assert b"shpat_secret_value" not in blob and b"shprt_secret_value" not in blob
    assert cipher.decrypt(blob) == secret_token()
    with pytest.raises(Exception, match="cannot be decrypted"):
        TokenCipher(Fernet.generate_key().decode()).decrypt(blob)
    # After a key rotation the old key still reads what it wrote.
    rotated = TokenCipher(
        Fernet.generate_key().decode(), previous=["a passphrase that is long enough to derive a key from"]
    )
    assert rotated.decrypt(blob) == secret_token()


def test_secret_key_is_validated() -> None:
    key = Fernet.generate_key().decode()
    assert fernet_key(key) == key.encode()
    assert len(fernet_key("x" * 40)) == 44
    with pytest.raises(ValueError, match="at least 32 characters"):
        fernet_key("too-short")


def test_secrets_never_appear_in_reprs(shopify: FakeShopify) -> None:
    app = OAuthApp(CLIENT_ID, "shpss_secret_value", previous_secret="shpss_old_value")
    shown = " ".join(
        repr(x)
        for x in (
            secret_token(),
            app,
            StaticToken("shpat_secret_value"),
            ClientCredentialsToken(app, SHOP),
            TokenCipher("x" * 40),
        )
    )
    assert "secret_value" not in shown and "old_value" not in shown


async def test_settings_with_only_app_credentials_connect_through_client_credentials(shopify: FakeShopify) -> None:
    from config import Settings

    settings = Settings(
        _env_file=None,
        shopify_shop=SHOP,
        shopify_client_id=CLIENT_ID,
        shopify_client_secret=SecretStr(CLIENT_SECRET),
        shopify_shop_url=shopify.base_url,
    )
    async with admin_from_settings(settings) as client:
        assert [o.name for o in await client.orders_by_name("1042")] == ["#1042"]
        assert client.status.missing_scopes == []
    assert shopify.grants == ["client_credentials"]


async def test_tokens_in_the_database_are_encrypted_and_shared_by_workers(
    shopify: FakeShopify, wall: WallClock, db: Database
) -> None:
    store = EncryptedTokenStore(db, TokenCipher("a passphrase that is long enough to derive a key from"))
    first = ClientCredentialsToken(oauth_app(shopify), SHOP, store=store, now=wall.now)
    second = ClientCredentialsToken(oauth_app(shopify), SHOP, store=store, now=wall.now)  # another worker
    token = await first.token()
    assert (await second.token()).get_secret_value() == token.get_secret_value()  # read, not asked for again
    stored = await db.get_setting(f"shopify_token:{SHOP}")
    assert stored is not None and token.get_secret_value() not in str(stored)
    # A 401 in one worker renews once; the other then reads the new token from the database.
    renewed = await first.refresh(token)
    assert (await second.refresh(token)).get_secret_value() == renewed.get_secret_value()
    assert shopify.grants == ["client_credentials", "client_credentials"]


async def test_concurrent_requests_spend_a_single_use_refresh_token_once(shopify: FakeShopify, wall: WallClock) -> None:
    store = MemoryTokenStore()
    install = make_install(shopify, wall, store)
    await install.complete(await approve(install, shopify))
    tokens = AuthorizationCodeToken(oauth_app(shopify), SHOP, store=store, now=wall.now)
    async with admin(shopify, tokens) as client:
        await client.shop()
        wall.advance(3_600)  # expired: every request below needs the refreshed token
        numbers = ["1031", "1042", "1050", "1088"]
        found = await asyncio.gather(*(client.orders_by_name(n) for n in numbers))
    assert [[o.name for o in orders] for orders in found] == [[f"#{n}"] for n in numbers]
    # A second use of the same refresh token would have been refused: one refresh served them all.
    assert shopify.grants == ["authorization_code", "refresh_token"]


async def test_database_states_are_single_use_for_their_shop_and_time(db: Database, wall: WallClock) -> None:
    states = DatabaseStateStore(db)
    other_worker = DatabaseStateStore(db)
    state = await states.issue(SHOP, wall.now() + timedelta(minutes=10))
    # 100 callbacks with the same state at once, from two workers: one wins.
    won = await asyncio.gather(*((states, other_worker)[i % 2].consume(state, SHOP, wall.now()) for i in range(100)))
    assert won.count(True) == 1
    wrong_shop = await states.issue(SHOP, wall.now() + timedelta(minutes=10))
    assert not await other_worker.consume(wrong_shop, "another.myshopify.com", wall.now())
    assert not await states.consume(wrong_shop, SHOP, wall.now())  # a refused state is spent too
    late = await states.issue(SHOP, wall.now() + timedelta(minutes=10))
    assert not await states.consume(late, SHOP, wall.now() + timedelta(minutes=11))
    assert not await states.consume("never-issued", SHOP, wall.now())
