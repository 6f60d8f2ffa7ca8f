"""(being written)"""

from __future__ import annotations

from fastapi import APIRouter

from jejak.service.core import Service
from jejak.service.jobs import JobQueue

router = APIRouter()


def register(queue: JobQueue, service: Service) -> None:
    """Install this module's job handler on the queue."""
