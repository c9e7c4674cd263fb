"""Answer-type cues: the question's form says what kind of answer it wants."""

from __future__ import annotations

import pytest

from rag.cues import cue_of, offers


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many countries did the article say belong to NATO?", "count"),
        ("How much money remains untapped?", "money"),
        ("On what date did the conflict erupt?", "date"),
        ("When did the talks resume?", "date"),
        ("In which year was the group created?", "date"),
        ("Who said that boots will not be on the ground?", "person"),
        ("Whose plan was reviewed in Geneva?", "person"),
        ("Which countries' delegations attended the talks?", "list"),
        ("Into which Baltic countries did Biden move troops?", "list"),
        ("Who is Steve Witkoff and what role does he play?", None),  # asks what he is, not a name
        ("What has happened to the flow of weapons?", None),  # "has" is no plural noun
        ("What did the president ask the coalition not to do?", None),
        ("Why did the talks fail?", None),
        ("How quickly were the shares taken up?", "quantity"),
        ("By how much did the airline cut its costs?", "quantity"),
        ("What speed did the computer reach?", "quantity"),
        ("How much is the club due to receive?", "quantity"),
        ("Where did Rubio review the plan?", "name"),
        ("In which German city will the trial run?", "name"),
        ("Which energy drink company agreed the deal?", "name"),
        ("Under what pen name did she write?", "name"),
        ("With whom did he found the label?", "person"),
        ("Who is Ryanair's chief executive?", "person"),  # a role: asks for a name
        ("Which Goldman Sachs analyst said it?", "name"),  # "Sachs" is a name, not a plural
        ("What kind of support did he offer?", None),
        ("What did that plan prohibit?", None),
        ("What has happened to the plan?", None),
    ],
)
def test_cue_of_reads_the_form_of_the_question(question, kind):
    cue = cue_of(question)
    assert (cue.kind if cue else None) == kind, f"{question!r}: {cue}"


def test_count_wants_a_number_next_to_the_counted_word():
    cue = cue_of("How many countries belong to NATO?")
    assert cue.counted == "countri"
    assert offers(cue, "NATO is an alliance between 30 countries across North America and Europe.")
    assert offers(cue, "Twelve countries signed it.")
    assert not offers(cue, "In 2022, NATO countries met 3 times."), "a number that counts something else"
    assert not offers(cue, "NATO countries met in Brussels.")


def test_date_wants_a_date_the_question_does_not_hold():
    cue = cue_of("On what date did the war that began in 2014 escalate?")
    assert offers(cue, "It escalated on February 24, 2022.")
    assert offers(cue, "They meet on Tuesday.")
    assert not offers(cue, "The war began in 2014."), "the year is the question's own"
    assert not offers(cue, "The war escalated without warning.")


def test_person_wants_a_name_that_is_not_the_sentence_opening_or_the_question():
    cue = cue_of("Who chairs the Ukraine Defense Contact Group?")
    assert offers(cue, "Britain’s defense secretary, John Healey, is now the chairman.")
    assert offers(cue, "“Boots will not be on the ground,” Leavitt said.")
    assert not offers(cue, "The group meets in the Ukraine Defense Contact Group format.")
    assert not offers(cue, "Someone else chairs it now.")


def test_list_wants_an_enumeration_of_names():
    cue = cue_of("Which countries sent delegations?")
    assert offers(cue, "Delegations from France, the U.K., Italy and Finland were present.")
    assert offers(cue, "Troops moved into Estonia, Latvia, and Lithuania.")
    assert not offers(cue, "Delegations from several European countries were present.")


@pytest.mark.parametrize("question, kind", [
    ("How much does Hitachi's Emiew robot cost?", "money"),
    ("What salary will Glenn Hoddle earn as Wolves manager?", "money"),
    ("How much money did the fundraiser bring in?", "money"),
    ("On what date did the strike end?", "date"),
    ("How many tickets were sold?", "count"),
    ("Who chairs the group?", None),
    ("What did the minister say about the plan?", None),
])
def test_required_reads_what_an_answer_must_hold(question, kind):
    from rag.cues import required

    cue = required(question)
    assert (cue.kind if cue else None) == kind


def test_holds_finds_amounts_dates_and_numbers():
    from rag.cues import holds, required

    def has(question, sentence):
        return holds(required(question), sentence)

    assert has("How much is the firm due to receive?", "The firm is to receive a payment of £24.5m.")
    assert has("How much money did it lose?", "It lost 984m euros in 2003.")
    assert not has("How much does the robot cost?", "The 1.3m (4.2ft) robot was the quickest yet.")
    assert has("When did it end?", "It ended on 12 March.")
    assert not has("When did it end in 2004?", "It ended in 2004.")
    assert has("How many households were hit?", "About 300 homes were affected.")
    assert not has("How many households were hit?", "Many homes were affected.")


def test_quantity_wants_a_number_the_question_does_not_hold():
    cue = cue_of("How quickly were the 17 million shares taken up?")
    assert offers(cue, "The offer was fully sold within 10 minutes.")
    assert not offers(cue, "Investors snapped up the 17 million shares."), "the question's own number"
    assert not offers(cue, "One of the analysts was surprised."), "'one of' is no measure"


def test_name_wants_a_name_none_of_whose_words_the_question_holds():
    cue = cue_of("Where in India are Hyundai and Volkswagen building plants?")
    assert offers(cue, "The new plant will be built close to the existing one in Chennai.")
    assert not offers(cue, "Its maker, South Korea's Hyundai Motor, plans a second plant."), "Hyundai is the question's"
    assert not offers(cue, "Volkswagen is considering a factory in India."), "an opening word and the question's India"
    assert not offers(cue, "The plant opens in September."), "a month is a date, not a place"
