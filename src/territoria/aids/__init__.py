"""Aid finder: aid catalogues (aides-jeunes, aides-velo, mission-transition, Aides-territoires, CSV/JSON),
perimeter resolution, structured eligibility and hybrid ranking.

Python API for the assistant and the web API:
    from territoria.aids.finder import find_aids, missing_profile_questions, find_with_context
    from territoria.aids.conversation import AidConversation
"""
