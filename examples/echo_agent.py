"""An example Media Streams agent: it repeats what the caller says, and stops talking when interrupted.

    python examples/echo_agent.py --port 8765

README text (the agent section):

    ## Connecting an AI voice agent (Media Streams)

    `<Connect><Stream url="ws://127.0.0.1:8765/"/></Connect>` hands the call's audio to your agent over a
    WebSocket in Twilio's Media Streams protocol, so an agent written for Twilio works unchanged. Wirexa
    opens the socket from the media worker that holds the call, so on the same box or LAN the audio is a
    few milliseconds away (Twilio allows only wss://; Wirexa also takes ws:// for local agents).

    What your agent receives (JSON text frames): `connected`, then `start` (streamSid, callSid,
    accountSid, tracks, mediaFormat audio/x-mulaw 8000 Hz mono, customParameters from `<Parameter>`), then
    `media` every 20 ms (160 bytes of mu-law, base64, with track, chunk and timestamp), `dtmf` when the
    caller presses a key, `mark` echoes, and `stop` when the call ends. The request carries
    X-Twilio-Signature, computed as Twilio does: validate it with your auth token.

    What your agent sends: `media` (base64 mu-law 8000 Hz of any size, no WAV header: it is queued and
    played in order, up to 10 minutes), `mark` (echoed back when the audio sent before it has been
    played: use it for turn-taking, e.g. to know when your reply has finished) and `clear` (drops the
    queued audio at once and echoes every pending mark: use it for barge-in, when the caller starts
    talking over your agent). When your agent closes the socket, the TwiML after `</Connect>` runs.

    examples/echo_agent.py is a complete agent in ~100 lines (aiohttp and webrtcvad): it detects each
    utterance, plays it back after a short pause followed by a mark, and sends `clear` when the caller
    speaks while it is still playing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import struct

import webrtcvad
from aiohttp import WSMsgType, web

log = logging.getLogger("echo_agent")
START_FRAMES = 3  # 60 ms of speech starts an utterance
END_FRAMES = 15  # 300 ms of silence ends it
PREROLL_FRAMES = 10  # the 200 ms before the start, so the first syllable is not cut


def _ulaw_sample(code: int) -> int:
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 0x07)
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


ULAW_TO_PCM = [struct.pack("<h", _ulaw_sample(code)) for code in range(256)]  # webrtcvad takes 16-bit PCM


def make_app(reply_delay_s: float = 0.5, aggressiveness: int = 2) -> web.Application:
    async def agent(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        vad = webrtcvad.Vad(aggressiveness)
        stream_sid, turn = "", 0
        recent: list[bytes] = []  # the last frames, mu-law
        utterance: list[bytes] | None = None  # None: the caller is not talking
        speech_run = silence_run = 0
        pending_marks: set[str] = set()  # our replies still playing
        replies: set[asyncio.Task[None]] = set()

        async def reply(audio: bytes, mark: str) -> None:
            await asyncio.sleep(reply_delay_s)  # "thinking"
            payload = base64.b64encode(audio).decode()
            await ws.send_json({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})
            pending_marks.add(mark)  # echoed when the caller has heard the reply (or it was cleared)
            await ws.send_json({"event": "mark", "streamSid": stream_sid, "mark": {"name": mark}})

        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            message = json.loads(msg.data)
            event = message["event"]
            if event == "start":
                stream_sid = message["streamSid"]
                start = message["start"]
                log.info("call %s: stream %s, parameters %s", start["callSid"], stream_sid, start["customParameters"])
            elif event == "mark":
                pending_marks.discard(message["mark"]["name"])
                log.info("%s played (or cleared)", message["mark"]["name"])
            elif event == "dtmf":
                log.info("the caller pressed %s", message["dtmf"]["digit"])
            elif event == "stop":
                log.info("the call ended")
                break
            elif event == "media" and message["media"]["track"] == "inbound":
                frame = base64.b64decode(message["media"]["payload"])
                speech = vad.is_speech(b"".join(ULAW_TO_PCM[code] for code in frame), 8000)
                speech_run, silence_run = (speech_run + 1, 0) if speech else (0, silence_run + 1)
                recent = [*recent[-(PREROLL_FRAMES - 1) :], frame]
                if utterance is None and speech_run >= START_FRAMES:
                    utterance = list(recent)
                    if pending_marks or replies:  # barge-in: the caller talks over our reply
                        log.info("barge-in: clear")
                        for task in replies:
                            task.cancel()
                        await ws.send_json({"event": "clear", "streamSid": stream_sid})
                elif utterance is not None:
                    utterance.append(frame)
                    if silence_run >= END_FRAMES:
                        turn += 1
                        audio = b"".join(utterance[:-END_FRAMES])
                        log.info("utterance %d: %d ms; echoing it", turn, len(audio) // 8)
                        task = asyncio.create_task(reply(audio, f"reply-{turn}"))
                        replies.add(task)
                        task.add_done_callback(replies.discard)
                        utterance = None
        for task in replies:
            task.cancel()
        return ws

    app = web.Application()
    app.router.add_get("/{path:.*}", agent)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds between an utterance and its echo")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    web.run_app(make_app(args.delay), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
