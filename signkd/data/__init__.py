"""Corpora, vocabularies, video reading and batching."""
