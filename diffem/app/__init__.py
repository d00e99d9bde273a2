"""The demo's logic, without Gradio: the app (``app.py``) only lays out the page and calls these.

- :mod:`.inputs`: checked numbers, choices, pictures and drawn masks (:class:`InputError`);
- :mod:`.observation`: a picture observed through an operator, and what the model sees;
- :mod:`.request`: the observation the page's controls ask for (an example, an upload, a drawn mask);
- :mod:`.summary`: mean, uncertainty map and figures of a restoration (shared with the CLI);
- :mod:`.catalog`: installed priors in plain words and the settings each one starts from;
- :mod:`.stream`: restorations as throttled streams of frames, and races of several methods;
- :mod:`.training`: the Train tab's form as a job, an import's summary, a run's per-lap table and plots;
- :mod:`.pictures`: tensors enlarged for a page.
"""

from .inputs import InputError

__all__ = ["InputError"]
