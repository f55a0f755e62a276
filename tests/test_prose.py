"""Whole statements from policy passages: hard wraps re-joined, never cut mid-sentence, table rows and
headings left out, lists rendered with their introducing sentence, dangling references dropped."""

from rag.prose import artefacts, statements

POLICY = """5. Access reviews

The IT lead reviews user access every quarter for AWS, GitHub
and Okta administrative roles. Findings are fixed within
ten business days.

Role | Reviewer | Frequency
Engineer | Manager | Quarterly

The matrix is reviewed each year.

Production changes need:
- a pull request;
- a second reviewer; and
- passing tests.

This policy is owned by the CISO. It is reviewed annually.

Backups run every day. They are kept for 35 days.
"""


def _texts(text=POLICY):
    return [s.text for s in statements(text, 0, len(text))]


def test_hard_wraps_are_rejoined_into_whole_sentences():
    out = _texts()
    assert "The IT lead reviews user access every quarter for AWS, GitHub and Okta administrative roles." in out
    assert "Findings are fixed within ten business days." in out


def test_tables_headings_and_dangling_references_are_left_out():
    out = " ".join(_texts())
    assert "|" not in out and "Access reviews" not in out
    assert "The matrix is reviewed" not in out  # it follows a table the description does not show
    assert "This policy is owned" not in out and "It is reviewed annually" not in out


def test_lists_keep_their_introduction_and_pronouns_their_antecedent():
    out = _texts()
    assert "Production changes need: a pull request, a second reviewer and passing tests." in out
    assert "Backups run every day. They are kept for 35 days." in out
    assert not any(artefacts(s) for s in out)


def test_every_statement_rests_on_verbatim_spans():
    for st in statements(POLICY, 0, len(POLICY)):
        for start, end in st.spans:
            assert POLICY[start:end].strip() == POLICY[start:end]
            assert POLICY[start:end].split()[0].rstrip(":") in st.text or POLICY[start:end].startswith("-")


def test_artefacts_are_named():
    assert artefacts("the potential; threats to") and artefacts("Requirement | Tier 1")
    assert artefacts("Access is reviewed; Findings are fixed.") == []


def test_template_directives_headed_lists_and_lower_case_items():
    text = ("{{#if soc2}}\nBackups are tested every quarter by the platform team.\n{{/if}}\n\n"
            "Physical security controls\n\n- CCTV at every entry point\n- visitor logs kept for 90 days\n\n"
            "Badge reviews are recorded.\n\n1. management reviews the list of badge holders every quarter.\n")
    out = _texts(text)
    assert "Backups are tested every quarter by the platform team." in out
    assert "Physical security controls: CCTV at every entry point and visitor logs kept for 90 days." in out
    assert "Management reviews the list of badge holders every quarter." in out
    assert not any("{{" in s for s in out)


def test_unfilled_template_placeholders_are_left_out():
    out = _texts("The process is managed by [person responsible for risk]. Risks are scored from 1 to 5 [1].\n")
    assert out == ["Risks are scored from 1 to 5 [1]."]
