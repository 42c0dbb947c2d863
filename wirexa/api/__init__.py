"""The REST API: the only package that imports aiohttp.web."""
