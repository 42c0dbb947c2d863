"""PURE: the notification (debugger) codes Wirexa reports on a call, with Twilio's meanings.

One home for the vocabulary: the interpreter, the document and audio fetchers, the TTS chain,
the SIP protocol and the call session name their codes from here, and a test keeps every code
literal in wirexa/ in this table. The numbers are Twilio's error dictionary's, so a customer
can look each one up at https://www.twilio.com/docs/errors/<code>.
"""

from __future__ import annotations

from enum import IntEnum

from wirexa.errors import ApiCode


class Notice(IntEnum):
    # Fetching the customer's documents and audio.
    INVALID_URL = 11100
    HTTP_RETRIEVAL_FAILURE = 11200
    HTTP_CONNECTION_FAILURE = 11205
    HTTP_BAD_HOST_NAME = 11210
    HTTP_TOO_MANY_REDIRECTS = 11215
    RESPONSE_TOO_LARGE = 11750
    # The document itself.
    DOCUMENT_PARSE_FAILURE = 12100
    INVALID_ROOT_ELEMENT = 12102
    SCHEMA_WARNING = 12200
    INVALID_CONTENT_TYPE = 12300
    INTERNAL_FAILURE = 12400
    # Verb attributes and nouns.
    DIAL_INVALID_METHOD = 13210
    DIAL_INVALID_TIMEOUT = 13212
    DIAL_INVALID_HANGUP_ON_STAR = 13213
    DIAL_INVALID_CALLER_ID = 13214
    DIAL_INVALID_NESTED_ELEMENT = 13215
    DIAL_INVALID_TIME_LIMIT = 13216
    DIAL_INVALID_RECORD = 13217
    NUMBER_INVALID_METHOD = 13221
    NUMBER_INVALID_SEND_DIGITS = 13222
    DIAL_INVALID_PHONE_NUMBER = 13223
    DIAL_NUMBER_FAILED = 13224
    GATHER_INVALID_FINISH_ON_KEY = 13310
    GATHER_INVALID_METHOD = 13312
    GATHER_INVALID_TIMEOUT = 13313
    GATHER_INVALID_NUM_DIGITS = 13314
    GATHER_INVALID_NESTED_VERB = 13320
    GATHER_INVALID_SPEECH_TIMEOUT = 13327
    GATHER_INVALID_MAX_SPEECH_TIME = 13328
    GATHER_INVALID_HINTS = 13330
    GATHER_INVALID_LANGUAGE = 13331
    GATHER_INVALID_MODEL = 13334
    GATHER_INVALID_ACTION_ON_EMPTY_RESULT = 13338
    GATHER_INVALID_ENHANCED = 13339
    GATHER_SPEECH_PROVIDER = 13343
    PLAY_INVALID_LOOP = 13410
    PLAY_INVALID_CONTENT = 13420
    SAY_INVALID_LOOP = 13510
    SAY_INVALID_VOICE = 13511
    SAY_INVALID_TEXT = 13520
    RECORD_INVALID_METHOD = 13610
    RECORD_INVALID_TIMEOUT = 13611
    RECORD_INVALID_MAX_LENGTH = 13612
    RECORD_INVALID_FINISH_ON_KEY = 13613
    RECORD_INVALID_TRANSCRIBE = 13614
    RECORD_INVALID_PLAY_BEEP = 13616
    RECORD_TRANSCRIPTION_LENGTH = 13617  # a recording over 120 s cannot be transcribed
    REDIRECT_INVALID_METHOD = 13710
    PAUSE_INVALID_LENGTH = 13910
    # Conferences: <Conference coach> names no participant; a participantLabel already in use.
    CONFERENCE_INVALID_COACH = 13240
    CONFERENCE_LABEL_IN_USE = 16025
    # Recordings.
    RECORDING_TOO_SHORT = 16101
    RECORDING_SILENT = 16102
    # Media Streams (Twilio's 319xx "Stream" family; 20001/20404 are its generic codes, used
    # where it documents none: a stream beyond the call's limits, a <Stop> of no running stream).
    STREAM_LIMIT = ApiCode.INVALID_PARAMETER
    STREAM_NOT_RUNNING = ApiCode.NOT_FOUND
    STREAM_CONNECT_TIMEOUT = 31901
    STREAM_CONNECT_REFUSED = 31902
    STREAM_TLS_FAILURE = 31910
    STREAM_HANDSHAKE_FAILED = 31920
    STREAM_INVALID_URL_SCHEME = 31922
    STREAM_MALFORMED_URL = 31923
    STREAM_PROTOCOL_ERROR = 31924
    STREAM_MEDIA_DISCARDED = 31931
    STREAM_INVALID_TRACK = 31941
