"""calls.ports.NumberDirectory over the store: where an inbound call goes (a number's route,
or a desk phone's: its project and [sip] phones_voice_url), and the desk phones' credentials the
inbound front checks digests against."""

from __future__ import annotations

from wirexa.calls.records import InboundRoute
from wirexa.config import Settings
from wirexa.store.db import Store
from wirexa.store.repo import numbers, phones


class StoreDirectory:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.phones_voice_url = settings.sip_phones_voice_url or None
        self.phones_voice_method = settings.sip_phones_voice_method.upper()

    async def number_route(self, phone_number: str) -> InboundRoute | None:
        found = await self.store.lookup(numbers.find_route, phone_number)
        if found is None:
            return None
        return InboundRoute(
            account_sid=found.account_sid,
            voice_url=found.voice_url,
            voice_method=found.voice_method,
            voice_fallback_url=found.voice_fallback_url,
            voice_fallback_method=found.voice_fallback_method,
            status_callback=found.status_callback,
            status_callback_method=found.status_callback_method,
            phone_number_sid=found.phone_number_sid,
        )

    async def phone_route(self, username: str) -> InboundRoute | None:
        phone = await self.store.lookup(phones.find_phone, username)
        if phone is None:
            return None
        return InboundRoute(phone.account_sid, self.phones_voice_url, self.phones_voice_method)

    async def phone_password(self, username: str) -> str | None:
        """The desk phone's password (its digest secret), or None for no such phone."""
        phone = await self.store.lookup(phones.find_phone, username)
        return None if phone is None else phone.password
