"""Value functions: the real sentence embedder (offline), answer log-probabilities, and the
forms in which lmms-eval hands back loglikelihood results."""

from __future__ import annotations

import numpy as np
import pytest

from pixelshap_eval.values import (
    TextEmbedder,
    answer_logprob,
    parse_loglikelihood,
    similarity_values,
    visually_relevant_tokens,
)

REFERENCE = "A brown dog is lying on a red sofa."


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return TextEmbedder()


class CountingEncode:
    """Wraps a model's encode and records every text it is asked to embed."""

    def __init__(self, encode):
        self.encode = encode
        self.texts: list[str] = []

    def __call__(self, texts, **kwargs):
        self.texts.extend(texts)
        return self.encode(texts, **kwargs)


# ---------------------------------------------------------------------------------------------
# embedder


def test_embeddings_are_normalised_rows(embedder):
    vectors = embedder.embed(["a cat", "a dog on a sofa", "a cat"])
    assert vectors.shape == (3, embedder.dimension) == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2])
    assert embedder.embed([]).shape == (0, 384)


def test_a_repeated_text_is_never_embedded_again(embedder, monkeypatch):
    embedder.clear_cache()
    counter = CountingEncode(embedder.model.encode)
    monkeypatch.setattr(embedder.model, "encode", counter)
    first = embedder.embed(["red apple", "green pear", "red apple"])
    assert counter.texts == ["red apple", "green pear"]
    second = embedder.embed(["green pear", "blue plum", "red apple"])
    assert counter.texts == ["red apple", "green pear", "blue plum"]
    assert np.array_equal(second[0], first[1]) and np.array_equal(second[2], first[0])
    embedder.clear_cache()
    embedder.embed(["red apple"])
    assert counter.texts[-1] == "red apple" and len(counter.texts) == 4


def test_an_answers_embedding_is_bitwise_the_same_whatever_batch_it_arrives_in(embedder):
    texts = ["yes", "A dog.", "Two people are walking a large dog along a beach at sunset.", "no idea"]
    embedder.clear_cache()
    batched = embedder.embed(texts)
    embedder.clear_cache()
    single = np.vstack([embedder.embed([text]) for text in texts])
    embedder.clear_cache()
    reordered = embedder.embed(texts[::-1])[::-1]
    assert batched.tobytes() == single.tobytes() == reordered.tobytes()


def test_model_loads_lazily_and_a_missing_model_says_so():
    missing = TextEmbedder("/nonexistent/sentence-model")  # nothing is loaded yet
    with pytest.raises(FileNotFoundError, match="could not load"):
        missing.embed(["text"])
    with pytest.raises(TypeError, match="sequence of texts"):
        missing.embed("text")


# ---------------------------------------------------------------------------------------------
# similarity values


def test_similarity_of_identical_related_unrelated_and_empty_answers(embedder):
    answers = [REFERENCE, "A dog sleeps on a couch.", "Stock markets fell sharply on Tuesday.", "", "   "]
    similarity = similarity_values(REFERENCE, answers, embedder)
    assert similarity.shape == (5,)
    assert similarity[0] == 1.0
    assert 1.0 > similarity[1] > similarity[2]
    assert similarity[3] == similarity[4] == 0.0
    assert np.all(similarity <= 1.0) and np.all(similarity >= -1.0)


def test_similarity_matches_the_cosine_of_the_embeddings(embedder):
    answers = ["A cat.", "A brown dog."]
    vectors = embedder.embed([REFERENCE] + answers)
    expected = vectors[1:] @ vectors[0] / np.linalg.norm(vectors[1:], axis=1) / np.linalg.norm(vectors[0])
    assert np.allclose(similarity_values(REFERENCE, answers, embedder), expected, atol=1e-6)


def test_similarity_rejects_an_empty_reference_and_non_text(embedder):
    with pytest.raises(ValueError, match="reference"):
        similarity_values("  ", ["a dog"], embedder)
    with pytest.raises(TypeError, match="strings"):
        similarity_values(REFERENCE, ["a dog", None], embedder)
    with pytest.raises(TypeError, match="sequence"):
        similarity_values(REFERENCE, "a dog", embedder)


# ---------------------------------------------------------------------------------------------
# log-probabilities


def test_answer_logprob_hand_computed():
    logprobs = [-0.5, -1.0, -2.0]
    assert answer_logprob(logprobs) == -3.5
    assert answer_logprob(logprobs, relevant=np.array([True, False, True])) == -2.5
    with pytest.raises(ValueError, match="selects no token"):
        answer_logprob(logprobs, relevant=np.zeros(3, bool))
    with pytest.raises(ValueError, match="one entry per token"):
        answer_logprob(logprobs, relevant=np.ones(2, bool))
    with pytest.raises(ValueError, match="log-probabilities"):
        answer_logprob([-0.5, 0.3])
    with pytest.raises(ValueError, match="non-empty"):
        answer_logprob([])


def test_visually_relevant_tokens_hand_computed():
    image = [-0.5, -1.0, -2.0]
    blurred = [-2.0, -1.5, -3.0]  # gains 1.5, 0.5, 1.0: only the first exceeds 1.0
    assert visually_relevant_tokens(image, blurred).tolist() == [True, False, False]
    assert visually_relevant_tokens(image, blurred, threshold=0.4).tolist() == [True, True, True]
    # no token gains more than the threshold: all are kept, so the value is the whole answer
    relevant = visually_relevant_tokens(image, image)
    assert relevant.tolist() == [True, True, True]
    assert answer_logprob(image, relevant) == answer_logprob(image)
    with pytest.raises(ValueError, match="same answer tokens"):
        visually_relevant_tokens(image, blurred[:2])


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ((-3.93, False), -3.93),
        ([-1.0, True], -1.0),
        ((np.float32(-0.25), np.bool_(True)), -0.25),
        ("(-3.93, False)", -3.93),
        (" ( -12.5 , True ) ", -12.5),
        ("(-inf, False)", float("-inf")),
        (-2, -2.0),
    ],
)
def test_parse_loglikelihood_forms(result, expected):
    assert parse_loglikelihood(result) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["abc", "(-3.9)", "(x, False)", "(nan, True)", "(-1.0, maybe)"])
def test_parse_loglikelihood_rejects_other_text(text):
    with pytest.raises(ValueError, match="loglikelihood result"):
        parse_loglikelihood(text)


@pytest.mark.parametrize("result", [(1.0, 2.0, 3.0), (True, False), None, ("-1", False), (-1.0, "False")])
def test_parse_loglikelihood_rejects_other_types(result):
    with pytest.raises(TypeError, match="loglikelihood result"):
        parse_loglikelihood(result)
