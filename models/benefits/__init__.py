"""Benefit programmes (尊老金 first): eligibility, applications, review, outreach.

A package along its seams: `catalogue` (the programmes file), `eligibility` (the rules),
`tables`, `permissions` (who may file, see, review), `apply`, `notifications`, `review`,
`outreach` (the daily scan). Modules import each other directly; this module re-exports the
public names so callers import `models.benefits` as before (and importing it registers the
tables with SQLModel's metadata, which the migrations' env relies on).
"""

from __future__ import annotations

from models.benefits.apply import (
    RECERT_NOTICE,
    Facts,
    add_documents,
    apply_for_benefit,
    current_approval,
    documents_of,
    due_for_recert,
    history,
    known_facts,
    my_applications,
    open_application,
    record_event,
)
from models.benefits.catalogue import (
    CODE_RE,
    DEFAULT_PROGRAMMES,
    Band,
    Catalogue,
    DocumentKind,
    Programme,
    Question,
    Worded,
    load_catalogue,
)
from models.benefits.eligibility import Eligibility, assess, community_today, local_today
from models.benefits.notifications import (
    family_of,
    tell_applicant,
    tell_resident_filed,
    tell_residents_not_yet_told,
    tell_reviewers,
)
from models.benefits.outreach import people_to_help, run_outreach, run_outreach_in_steps
from models.benefits.permissions import (
    filer_role,
    get_visible,
    is_manager,
    may_review,
    may_see,
    may_see_sensitive,
)
from models.benefits.review import (
    DECISIONS,
    add_information,
    decide,
    review_queue,
    start_review,
)
from models.benefits.tables import (
    MAX_REASON,
    OPEN,
    ApplicationStatus,
    BenefitApplication,
    BenefitDocument,
    BenefitEvent,
    BenefitOutreach,
)

__all__ = [
    "CODE_RE",
    "DECISIONS",
    "DEFAULT_PROGRAMMES",
    "MAX_REASON",
    "OPEN",
    "RECERT_NOTICE",
    "ApplicationStatus",
    "Band",
    "BenefitApplication",
    "BenefitDocument",
    "BenefitEvent",
    "BenefitOutreach",
    "Catalogue",
    "DocumentKind",
    "Eligibility",
    "Facts",
    "Programme",
    "Question",
    "Worded",
    "add_documents",
    "add_information",
    "apply_for_benefit",
    "assess",
    "community_today",
    "current_approval",
    "decide",
    "documents_of",
    "due_for_recert",
    "family_of",
    "filer_role",
    "get_visible",
    "history",
    "is_manager",
    "known_facts",
    "load_catalogue",
    "local_today",
    "may_review",
    "may_see",
    "may_see_sensitive",
    "my_applications",
    "open_application",
    "people_to_help",
    "record_event",
    "review_queue",
    "run_outreach",
    "run_outreach_in_steps",
    "start_review",
    "tell_applicant",
    "tell_resident_filed",
    "tell_residents_not_yet_told",
    "tell_reviewers",
]
