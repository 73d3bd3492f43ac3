"""A deliberately failing inner test (run with pytester, so this suite stays green) shows the
"mockmodel journal" report section with the request no fixture matched."""

INNER = '''
import openai, pytest

@pytest.mark.mockmodel(fixtures=[{"match": {"userMessage": "hello"}, "response": {"content": "Hi!"}}])
def test_asks_something_unexpected(mockmodel):
    client = openai.OpenAI(**mockmodel.openai_kwargs(max_retries=0))
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "What is the refund policy?"}])
'''


def test_a_failing_test_reports_the_unmatched_requests(pytester):
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*mockmodel journal*",
            "server http://127.0.0.1:*, X-Test-Id 'test_inner.py::test_asks_something_unexpected': 1 request(s), 1 unmatched",
            "  UNMATCHED openai chat.completions model='gpt-4o' userMessage='What is the refund policy?' -> no_match",
            "loaded fixtures (1):",
            '  *#0 match={"userMessage":"hello"}',
        ]
    )
