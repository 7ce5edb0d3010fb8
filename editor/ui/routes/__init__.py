"""The web UI's endpoints, by concern: :mod:`.sessions` (sessions, objects, prompts),
:mod:`.frames` (frames, label maps, previews, confidence), :mod:`.jobs` (tracking, detection,
rendering and their events), :mod:`.files` (the page, info, settings, uploads, downloads).
"""
