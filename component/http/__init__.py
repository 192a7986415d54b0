"""The HTTP surface (aiohttp): the only package that imports aiohttp."""
