"""Writes the files next to it: messages modelled on RFC 4475's torture tests (valid but odd,
and invalid), plus a few garbage datagrams; CRLF line ends, bytes exactly as sent. Run: python3 generate.py"""
import pathlib
out = pathlib.Path(__file__).parent
SDP = ("v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 192.0.2.3\r\nt=0 0\r\n"
       "m=audio 49217 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
def hdrs(method="INVITE", uri="sip:vivekg@chair-dnrc.example.com", cl=None, body="", extra="", tag=""):
    cl = len(body.encode("utf-8", "surrogateescape")) if cl is None else cl
    return (f"{method} {uri} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKkdjuw\r\n"
            "Max-Forwards: 70\r\n"
            f"To: <sip:vivekg@chair-dnrc.example.com>{tag}\r\n"
            "From: <sip:j.user@example.com>;tag=8321234356\r\n"
            "Call-ID: torture-" + method.lower() + "-1@example.com\r\n"
            f"CSeq: 1 {method}\r\n"
            "Contact: <sip:j.user@192.0.2.2>\r\n" + extra +
            ("Content-Type: application/sdp\r\n" if body else "") +
            f"Content-Length: {cl}\r\n\r\n{body}")
M = {}
# --- 3.1.1 valid but tortuous -------------------------------------------------------------
M["wsinv"] = ("INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
    "TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
    "from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n"
    "MaX-fOrWaRdS: 0068\r\nCall-ID: wsinv.ndaksdj@192.0.2.1\r\nContent-Length   : 150\r\n"
    "cseq: 0009\r\n  INVITE\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\ns :\r\n"
    "NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n"
    "UnknownHeaderWithUnusualValue: ;;,,;;,;\r\nContent-Type: application/sdp\r\n"
    "Route:\r\n <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n"
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n"
    " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239\r\n"
    "m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n"
    "  secondparam ; q = 0.33\r\n\r\n" + SDP[:150].ljust(150, "x"))
M["intmeth"] = hdrs("!interesting-Method0123456789_*+`.%indeed'~", "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com")
M["esc01"] = hdrs("INVITE", "sip:sips%3Auser%40example.com@example.net", body=SDP)
M["escnull"] = hdrs("REGISTER", "sip:example.com", extra="Contact: <sip:%00@host5.example.com>\r\nContact: <sip:cal%6Cer@host5.example.com;%6C%72;n%61me=v%61lue%25%34%31>\r\n")
M["lwsdisp"] = hdrs("OPTIONS", "sip:user@example.com", extra="Accept: application/sdp\r\n")
M["longreq"] = hdrs("INVITE", "sip:user@example.com", body=SDP, extra="X-Long: " + "a" * 3000 + "\r\n" + "Route: " + ",".join(f"<sip:p{i}.example.com;lr>" for i in range(20)) + "\r\n")
M["dblreq"] = hdrs("REGISTER", "sip:example.com") + hdrs("INVITE", "sip:joe@example.com", body=SDP)
M["semiuri"] = hdrs("OPTIONS", "sip:user;par=u%40example.net@example.com")
M["transports"] = hdrs("OPTIONS", "sip:user@example.com", extra="Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\r\nVia: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\r\nVia: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\r\n")
M["mpart01"] = hdrs("MESSAGE", "sip:user@example.com", body="--7a9cbec02ceef655\r\nContent-Type: text/plain\r\n\r\nhello\r\n--7a9cbec02ceef655--\r\n").replace("application/sdp", "multipart/mixed;boundary=7a9cbec02ceef655")
M["noreason"] = "SIP/2.0 100\r\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\nCall-ID: noreason.asndj203insdf99223ndf\r\nCSeq: 35 INVITE\r\nFrom: <sip:user@example.com>;tag=39ansfi3\r\nTo: <sip:user@example.edu>;tag=902jndnke3\r\nContent-Length: 0\r\n\r\n"
M["unreason"] = M["noreason"].replace("SIP/2.0 100\r\n", "SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c\r\n")
M["regaut01"] = hdrs("REGISTER", "sip:example.com", extra="Authorization: Digest realm=\"example.com\", username=\"alice\", nonce=\"\", uri=\"sip:example.com\", response=\"\"\r\n")
M["sdp01"] = hdrs("INVITE", "sip:user@example.com", body=SDP, extra="Accept: text/nobodyKnowsThis\r\n")
M["zeromf"] = hdrs("OPTIONS", "sip:user@example.com").replace("Max-Forwards: 70", "Max-Forwards: 0")
M["cparam01"] = hdrs("REGISTER", "sip:example.com", extra="Contact: sip:+19725552222@gw1.example.net;unknownparam\r\n")
# --- 3.1.2 invalid ------------------------------------------------------------------------
M["badinv01"] = hdrs("INVITE", "sip:user@example.com", body=SDP).replace("Call-ID", "Call-ID: ; ;\r\nX-Call-ID", 1)
M["clerr"] = hdrs("INVITE", "sip:user@example.com", body=SDP, cl=9999)
M["ncl"] = hdrs("INVITE", "sip:user@example.com", body=SDP, cl=-999)
M["scalar02"] = hdrs("REGISTER", "sip:example.com", extra="Expires: 1" + "0" * 40 + "\r\n").replace("CSeq: 1", "CSeq: 36893488147419103232")
M["scalarlg"] = "SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\r\nTo: <sip:user@example.com>\r\nFrom: <sip:other@example.net>;tag=2easdjfejw\r\nCSeq: 9292394834772304023312 OPTIONS\r\nCall-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\r\nRetry-After: 949302838503028349304023988\r\nWarning: 1812 overture \"In Progress\"\r\nContent-Length: 0\r\n\r\n"
M["quotbal"] = hdrs("INVITE", "sip:user@example.com", body=SDP).replace("To: <sip:vivekg@chair-dnrc.example.com>", "To: \"Mr. J. User <sip:j.user@example.com>")
M["ltgtruri"] = hdrs("INVITE", "<sip:user@example.com>", body=SDP)
M["lwsruri"] = hdrs("INVITE", "sip:user@example.com; lr", body=SDP)
M["lwsstart"] = hdrs("INVITE", "sip:user@example.com", body=SDP).replace("INVITE sip", "INVITE  sip", 1).replace(" SIP/2.0\r\n", "  SIP/2.0\r\n", 1)
M["trws"] = hdrs("OPTIONS", "sip:remote-target@example.com").replace(" SIP/2.0\r\n", " SIP/2.0 \r\n", 1)
M["escruri"] = hdrs("INVITE", "sip:user@example.com?Route=%3Csip:example.com%3E", body=SDP)
M["baddate"] = hdrs("INVITE", "sip:user@example.com", body=SDP, extra="Date: Fri, 01 Jan 2010 16:00:00 EST\r\n")
M["regbadct"] = hdrs("REGISTER", "sip:example.com", extra="Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\r\n")
M["badaddr"] = hdrs("OPTIONS", "sip:user@example.com").replace("To: <sip:vivekg@chair-dnrc.example.com>", "To: \"Watson, Thomas\" < sip:t.watson@example.org >")
M["badvers"] = hdrs("OPTIONS", "sip:t.watson@example.org").replace(" SIP/2.0\r\n", " SIP/7.0\r\n", 1)
M["mismatch01"] = hdrs("OPTIONS", "sip:user@example.com").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE")
M["mismatch02"] = hdrs("NEWMETHOD", "sip:user@example.com").replace("CSeq: 1 NEWMETHOD", "CSeq: 1 INVITE")
M["multi01"] = hdrs("INVITE", "sip:user@company.com", body=SDP, extra="To: sip:other@example.net\r\nFrom: sip:caller@university.edu;tag=2\r\nCall-ID: multi01.98asdh@192.0.2.2\r\n")
M["insuf"] = "INVITE sip:user@example.com SIP/2.0\r\nCSeq: 193942 INVITE\r\nVia: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\nContent-Type: application/sdp\r\nl: 152\r\n\r\n" + SDP
M["unkscm"] = hdrs("OPTIONS", "nobodyKnowsThisScheme:totallyopaquecontent")
M["novelsc"] = hdrs("OPTIONS", "soap.beep://192.0.2.103:3002")
M["bigcode"] = "SIP/2.0 4294967301 better not break the receiver\r\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\nCall-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\r\nCSeq: 353494 INVITE\r\nFrom: <sip:user@example.com>;tag=39ansfi3\r\nTo: <sip:user@example.edu>;tag=902jndnke3\r\nContent-Length: 0\r\n\r\n"
M["invut"] = hdrs("INVITE", "sip:user@example.com", body=SDP).replace("application/sdp", "application/unknownformat")
M["badbranch"] = hdrs("OPTIONS", "sip:user@example.com").replace("branch=z9hG4bKkdjuw", "branch=" + "%" * 200)
M["nulls"] = hdrs("OPTIONS", "sip:user@example.com").replace("Max-Forwards: 70", "Max-Forwards: 7\x000")
M["utf8bad"] = hdrs("MESSAGE", "sip:user@example.com", body="\udcff\udcfe").replace("application/sdp", "text/plain")
M["inv_tagged"] = hdrs("INVITE", "sip:user@example.com", body=SDP, tag=";tag=forged-dialog")
M["inv_uri_tag"] = hdrs("INVITE", "sip:user@example.com", body=SDP).replace("To: <sip:vivekg@chair-dnrc.example.com>", "To: <sip:vivekg@chair-dnrc.example.com;tag=in-the-uri>")
M["bye_tagged"] = hdrs("BYE", "sip:user@example.com", tag=";tag=forged-dialog")
M["sdp_garbage"] = hdrs("INVITE", "sip:user@example.com", body="v=0\r\no=\r\nm=audio 99999999 RTP/AVP 0 0 0 0 0 0 0 0 0 0 0 0\r\nc=IN IP4 999.1.1.1\r\na=rtpmap:0\r\n")
M["sdp_many_m"] = hdrs("INVITE", "sip:user@example.com", body=SDP + "".join(f"m=audio {2000 + 2 * i} RTP/AVP 0\r\n" for i in range(60)))
for name, text in M.items():
    (out / f"{name}.sip").write_bytes(text.encode("utf-8", "surrogateescape"))
(out / "junk_binary.bin").write_bytes(bytes(range(256)) * 4)
(out / "junk_crlfs.bin").write_bytes(b"\r\n" * 700)
(out / "junk_truncated.bin").write_bytes(M["wsinv"].encode()[:97])
(out / "junk_empty_line.bin").write_bytes(b"INVITE\r\n\r\n")
print(len(M) + 4)
