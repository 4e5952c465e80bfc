"""Operator pages (status, plots, configuration): filled in by the operator-UI work (issue 7)."""

from fastapi import APIRouter

router = APIRouter()
