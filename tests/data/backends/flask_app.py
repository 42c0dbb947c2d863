# The product doc's "Minimal XML backend (Python/Flask)", unchanged (indentation restored).
from flask import Flask, request, Response
app = Flask(__name__)


@app.route("/xml", methods=["POST"])
def xml_response():
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
<Say>Hello! This call is being recorded.</Say>
<Gather numDigits="1" timeout="5" action="/gather">
<Say>Press 1 for sales, 2 for support.</Say>
</Gather>
<Hangup/>
</Response>"""
    return Response(xml, mimetype="text/xml")


@app.route("/gather", methods=["POST"])
def gather():
    digit = request.form.get("Digits", "")
    xml = f"<Response><Say>You pressed {digit}.</Say><Hangup/></Response>"
    return Response(xml, mimetype="text/xml")


@app.route("/status", methods=["POST"])
def status():
    print(request.form)  # CallSid, CallStatus, AnsweredBy, etc.
    return "OK"
