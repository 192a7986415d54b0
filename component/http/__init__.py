"""The HTTP surface: one server on httptools (llhttp) and one request pipeline."""
