"""The Gradio chat page over rag.QA."""

from .app import build_app, launch, render_answer

__all__ = ["build_app", "launch", "render_answer"]
