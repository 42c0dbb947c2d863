"""The web console (issue 28): HTML pages at /console/ on the API's port, server-rendered with
Jinja2 and a little plain JavaScript. app.py builds the aiohttp sub-application; auth.py holds
the logins, sessions and CSRF tokens; timeline.py, waveform.py, charts.py and filters.py are
PURE (the pictures' geometry and the query's parsing), tested without a server."""
