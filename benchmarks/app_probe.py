"""The probe that the browser app's tests (tests/test_app.py) and its benchmark (bench_app.py) run in the
page: one step of the app, as the user sees it drawn."""

#: the panels a step redraws (each drawn in an element of class ``credsim-<name>``)
PANELS = ["status", "dpd", "rates", "stress", "trust", "money", "queue"]
#: the longest a step may take to be drawn before the probe gives up (ms)
STEP_LIMIT_MS = 30_000

#: ``page.evaluate(STEP_JS, PANELS)``: click Step, wait until the day counter has moved on by one and every
#: panel's HTML has changed, then for the frame to be painted; the milliseconds that took, or -1 after
#: STEP_LIMIT_MS
STEP_JS = """async (panels) => {
    const html = () => panels.map(k => document.querySelector('.credsim-' + k)?.innerHTML ?? '');
    const before = html();
    const day = Number(document.querySelector('.credsim-day').textContent);
    const button = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Step');
    const t0 = performance.now();
    button.click();
    while (performance.now() - t0 < %d) {
        await new Promise(r => setTimeout(r, 2));
        const now = html();
        if (Number(document.querySelector('.credsim-day')?.textContent) === day + 1 && now.every((h, i) => h !== before[i])) {
            await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));  // painted
            return performance.now() - t0;
        }
    }
    return -1;
}""" % STEP_LIMIT_MS
