"""Shoal client API (public, no login): filled in by the Shoal work (issue 9)."""

from fastapi import APIRouter

router = APIRouter()
