"""The reviewer's web pages: Jinja2 templates (autoescaped) and static CSS/JS, no build step."""

from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
