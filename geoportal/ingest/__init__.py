"""Ingest of FIPS files and delivery points: read, validate, quarantine, load."""

from geoportal.ingest.load import Report, ingest_file
from geoportal.ingest.readers import FileError

__all__ = ["FileError", "Report", "ingest_file"]
