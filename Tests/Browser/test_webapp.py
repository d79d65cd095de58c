"""End-to-end tests of the web app: real daemons, a real headless Chromium.

Run: python3 Tests/Browser/test_webapp.py   (after `swift build`)
Screenshots of each page land in docs/ui/.
"""
import json
import os
import sys
import time
import unittest

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Browser, Daemon, eventually, temporary_root  # noqa: E402

FIGURES = {}


class WebAppTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = temporary_root()
        cls.ana = Daemon(cls.root, "ana")
        cls.bo = Daemon(cls.root, "bo")
        cls.ana.peer_with(cls.bo)
        cls.bo.peer_with(cls.ana, dial=False)
        cls.ana.start()
        cls.bo.start()
        cls.browsers = []

    @classmethod
    def tearDownClass(cls):
        for browser in cls.browsers:
            browser.quit()
        for daemon in (cls.ana, cls.bo):
            daemon.stop()

    def browser(self, daemon, **size):
        browser = Browser(**size)
        self.browsers.append(browser)
        browser.login(daemon)
        return browser

    def wait_in_sync(self):
        eventually(lambda: self.ana.ctl("digest").strip() == self.bo.ctl("digest").strip(), timeout=30, message="ana and bo in sync")

    def test_1_login_browse_and_search(self):
        browser = self.browser(self.ana)
        driver = browser.driver
        browser.screenshot("overview")
        driver.find_element(By.LINK_TEXT, "Data").click()
        browser.wait_text("h1", "Data")
        browser.screenshot("collections")
        driver.find_element(By.LINK_TEXT, "agreements").click()
        browser.wait_text("#records caption", "Records 1–")
        rows = driver.find_elements(By.CSS_SELECTOR, "#records tbody tr")
        self.assertGreater(len(rows), 5)
        search = driver.find_element(By.ID, "search")
        search.send_keys("truce")
        search.send_keys(Keys.ENTER)
        all_rows = len(rows)
        eventually(lambda: "us-cn-trade-truce-2025" in [r.get_attribute("data-id") for r in driver.find_elements(By.CSS_SELECTOR, "#records tbody tr")]
                   and len(driver.find_elements(By.CSS_SELECTOR, "#records tbody tr")) < all_rows, message="the records that mention 'truce'")
        for row in driver.find_elements(By.CSS_SELECTOR, "#records tbody tr"):
            detail = self.ana.get("agreements/" + row.get_attribute("data-id"))
            self.assertIn("truce", json.dumps(detail["fields"], ensure_ascii=False).lower() + row.get_attribute("data-id"))
        # A filter on an enum, and sorting by title, descending.
        driver.get(self.ana.base + "/#/c/agreements")
        browser.wait_text("#records caption", "Records 1–")
        Select(driver.find_element(By.ID, "filter-kind")).select_by_value("export-control")
        driver.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
        eventually(lambda: all(r.text.find("export-control") >= 0 for r in driver.find_elements(By.CSS_SELECTOR, "#records tbody tr"))
                   and len(driver.find_elements(By.CSS_SELECTOR, "#records tbody tr")) >= 2, message="the export-control filter")
        driver.find_element(By.XPATH, "//th/button[starts-with(normalize-space(.), 'title')]").click()
        eventually(lambda: "sort=title" in driver.current_url, message="sorted by title")
        browser.screenshot("table")
        driver.find_element(By.LINK_TEXT, "cn-rare-earth-export-licensing").click()
        browser.wait_text("h1", "China rare-earth export licensing")
        # References as links with titles, set members as chips, history per field, what refers to it.
        self.assertTrue(driver.find_elements(By.CSS_SELECTOR, "dd[data-field=parties] .chip a"))
        self.assertTrue(driver.find_elements(By.CSS_SELECTOR, "dd[data-field=status] details.history"))
        browser.screenshot("record")
        self.assertEqual(browser.console_errors(), [])

    def test_2_edit_appears_live_on_the_other_daemon(self):
        editor = self.browser(self.ana)
        watcher = self.browser(self.bo)
        ref = "/r/agreements/green-minerals-initiative"
        watcher.open(self.bo, ref)
        watcher.wait_text("h1", "green minerals")
        editor.open(self.ana, ref + "/edit")
        editor.wait_text("h1", "Edit agreements/green-minerals-initiative")
        Select(editor.driver.find_element(By.ID, "field-status")).select_by_value("suspended")
        editor.screenshot("edit")
        started = time.time()
        editor.driver.find_element(By.CSS_SELECTOR, "#edit-form button[type=submit]").click()
        eventually(lambda: "suspended" in watcher.driver.find_element(By.CSS_SELECTOR, "dd[data-field=status]").text
                   and watcher.driver.find_elements(By.CSS_SELECTOR, "dd[data-field=status] [data-changed-by=ana]"), timeout=10,
                   message="bo's open page to show ana's edit without a reload")
        FIGURES["save in ana's browser → shown in bo's browser (s)"] = round(time.time() - started, 3)
        watcher.screenshot("live-change")
        # Commit on one daemon (syncctl) → event in a browser connected to the other.
        latencies = []
        for value in ["active", "suspended", "active", "suspended", "active"]:
            before = watcher.driver.execute_script("return document.body.dataset.lastChange || ''")
            started_ms = time.time() * 1000
            self.ana.ctl("set", "agreements/green-minerals-initiative", f"status={value}")
            arrived = eventually(lambda: (lambda now: now if now != before else None)(
                watcher.driver.execute_script("return document.body.dataset.lastChange || ''")), timeout=10, every=0.01, message="the event")
            latencies.append(float(arrived.split(":")[1]) - started_ms)
        FIGURES["syncctl commit on ana → event in bo's browser (ms, 5 runs)"] = [round(x) for x in latencies]
        self.assertLess(min(latencies), 1000)

    def test_3_conflict_resolved_in_the_browser(self):
        ref = "agreements/cn-africa-mining-concessions"
        self.wait_in_sync()
        self.bo.stop()
        self.ana.ctl("set", ref, "status=active", "--author", "ana")
        self.bo.ctl("set", ref, "status=expired", "--author", "bo")
        self.bo.start()
        eventually(lambda: len(self.ana.conflicts()) == 1 and len(self.bo.conflicts()) == 1, timeout=30, message="the conflict on both")
        browser = self.browser(self.ana)
        browser.open(self.ana, "/conflicts")
        browser.wait_text("#conflict-badge", "1")
        card = eventually(lambda: browser.driver.find_element(By.CSS_SELECTOR, "[data-conflict]"), message="the conflict card")
        self.assertIn("active", card.text)
        self.assertIn("expired", card.text)
        self.assertIn("by bo on bo", card.text)
        browser.screenshot("conflicts")
        card.find_element(By.XPATH, ".//div[@class='sibling'][.//div[@class='value' and text()='expired']]/button").click()
        browser.wait_text("main", "No open conflicts.")
        eventually(lambda: self.ana.conflicts() == [] and self.bo.conflicts() == [], timeout=30, message="no conflicts on either daemon")
        self.assertEqual(self.bo.get(ref)["fields"]["status"], "expired")

    def test_4_stale_resolution_is_refused_with_the_new_siblings(self):
        ref = "agreements/cn-africa-long-term-supply"
        cy = Daemon(self.root, "cy")
        try:
            cy.peer_with(self.ana)
            self.ana.peer_with(cy, dial=False)
            # cy edits offline, before it ever meets ana.
            cy.ctl("set", ref, "status=proposed", "--author", "cy")
            self.wait_in_sync()
            self.bo.stop()
            self.ana.ctl("set", ref, "status=active", "--author", "ana")
            self.bo.ctl("set", ref, "status=expired", "--author", "bo")
            self.bo.start()
            eventually(lambda: len(self.ana.conflicts()) == 1, timeout=30, message="the conflict on ana")
            browser = self.browser(self.ana)
            browser.open(self.ana, "/conflicts")
            card = eventually(lambda: browser.driver.find_element(By.CSS_SELECTOR, "[data-conflict]"), message="the conflict card")
            self.assertEqual(len(card.find_elements(By.CSS_SELECTOR, ".sibling")), 2)
            # Focus inside the card keeps the inbox from redrawing while cy's version arrives.
            button = card.find_element(By.XPATH, ".//div[@class='sibling'][.//div[@class='value' and text()='active']]/button")
            browser.driver.execute_script("arguments[0].focus()", button)
            cy.start()
            eventually(lambda: len(self.ana.conflicts()[0]["siblings"]) == 3, timeout=30, message="cy's version to arrive")
            button.click()
            fresh = eventually(lambda: browser.driver.find_element(By.CSS_SELECTOR, "[data-conflict] [role=alert].problem"), message="the refusal")
            self.assertIn("changed since they were shown", fresh.text)
            card = browser.driver.find_element(By.CSS_SELECTOR, "[data-conflict]")
            self.assertEqual(len(card.find_elements(By.CSS_SELECTOR, ".sibling")), 3)
            self.assertIn("proposed", card.text)
            browser.screenshot("conflict-stale")
            self.assertEqual(len(self.ana.conflicts()), 1)
            # Decide again, with a typed value this time.
            Select(card.find_element(By.CSS_SELECTOR, "select")).select_by_value("negotiating")
            card.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            eventually(lambda: self.ana.conflicts() == [] and self.bo.conflicts() == [] and cy.conflicts() == [], timeout=30,
                       message="no conflicts anywhere")
            self.assertEqual(cy.get(ref)["fields"]["status"], "negotiating")
        finally:
            cy.stop()

    def test_5_invalid_value_refused_next_to_its_field(self):
        browser = self.browser(self.ana)
        browser.open(self.ana, "/r/events/g20-johannesburg-2025/edit")
        browser.wait_text("h1", "Edit events/")
        country = browser.driver.find_element(By.ID, "field-country")
        country.clear()
        country.send_keys("minerals/lithium")
        browser.driver.find_element(By.CSS_SELECTOR, "#edit-form button[type=submit]").click()
        error = browser.wait_text("#error-country", "not a reference")
        self.assertEqual(country.get_attribute("aria-invalid"), "true")
        self.assertEqual(browser.driver.switch_to.active_element.get_attribute("id"), "field-country")
        browser.screenshot("edit-invalid")
        self.assertNotEqual(self.ana.get("events/g20-johannesburg-2025")["fields"]["country"], "minerals/lithium")

    def test_5c_a_refused_sql_edit_is_shown_on_the_overview(self):
        import sqlite3
        database = sqlite3.connect(os.path.join(self.bo.dir, "data.db"))
        with database:
            database.execute("update agreements set status = 'bogus' where id = 'us-cn-trade-truce-2025'")
        database.close()
        eventually(lambda: "refused" in self.bo.ctl("sql", "list", check=False), message="bo refused the SQL edit")
        browser = self.browser(self.bo)
        browser.open(self.bo, "/")
        def refused_problem():
            return [e.text for e in browser.driver.find_elements(By.CSS_SELECTOR, "li.problem") if "bogus" in e.text]
        eventually(refused_problem, message="the refused SQL edit on the overview")
        self.assertIn("syncctl sql retry", refused_problem()[0])
        browser.screenshot("overview-refused-sql-edit")
        self.bo.ctl("sql", "discard", "--all")

    def test_6_keyboard_only(self):
        browser = self.browser(self.ana)
        driver = browser.driver
        browser.open(self.ana, "/r/countries/cd")
        browser.wait_text("h1", "Democratic")
        actions = lambda *keys: ActionChains(driver).send_keys(*keys).perform()

        def tab_to(predicate, limit=80):
            for _ in range(limit):
                actions(Keys.TAB)
                element = driver.switch_to.active_element
                if predicate(element):
                    return element
            raise AssertionError("never reached the element with Tab")

        tab_to(lambda e: e.get_attribute("id") == "edit-link")
        actions(Keys.ENTER)
        browser.wait_text("h1", "Edit countries/cd")
        tab_to(lambda e: e.get_attribute("id") == "field-role")
        ActionChains(driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).send_keys("Keyboard-only edit").perform()
        tab_to(lambda e: e.tag_name == "button" and e.text == "Save")
        actions(Keys.ENTER)
        browser.wait_text("dd[data-field=role]", "Keyboard-only edit")
        self.assertEqual(self.ana.get("countries/cd")["fields"]["role"], "Keyboard-only edit")
        # The skip link and the navigation are reachable too: back up to the
        # skip link, then Tab forward to "Conflicts" and open it.
        for _ in range(40):
            actions(Keys.SHIFT + Keys.TAB)
            if driver.switch_to.active_element.text == "Skip to content":
                break
        self.assertEqual(driver.switch_to.active_element.text, "Skip to content")
        tab_to(lambda e: e.get_attribute("data-nav") == "conflicts")
        actions(Keys.ENTER)
        browser.wait_text("h1", "Conflicts")

    def test_7_recent_changes_and_narrow_and_wide_windows(self):
        self.bo.ctl("set", "minerals/lithium", "notes=Seen by the recent-changes test", "--author", "bo")
        browser = self.browser(self.ana)
        eventually(lambda: self.ana.get("minerals/lithium")["fields"]["notes"] == "Seen by the recent-changes test", message="bo's edit on ana")
        browser.open(self.ana, "/changes?all=1")
        browser.wait_text("#changes", "minerals/lithium")
        browser.screenshot("changes")
        narrow = self.browser(self.ana, width=400, height=800)
        narrow.open(self.ana, "/c/agreements")
        narrow.wait_text("#records caption", "Records 1–")
        # Chromium's smallest window is about 500 px; nothing may stick out of it.
        widths = narrow.driver.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        self.assertLessEqual(widths[0], widths[1])
        self.assertLess(widths[1], 600)
        narrow.screenshot("narrow")
        wide = self.browser(self.ana, width=1920, height=1080)
        wide.open(self.ana, "/c/agreements")
        wide.wait_text("#records caption", "Records 1–")
        widths = wide.driver.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        self.assertLessEqual(widths[0], widths[1])
        self.assertGreater(widths[1], 1800)
        wide.screenshot("wide")

    def test_5b_an_edit_of_a_field_that_changed_meanwhile_is_refused(self):
        ref = "agreements/us-north-american-critical-minerals"
        browser = self.browser(self.ana)
        browser.open(self.ana, "/r/" + ref + "/edit")
        browser.wait_text("h1", "Edit " + ref)
        # bo edits the same field while ana's form is open; it reaches ana.
        self.bo.ctl("set", ref, "status=expired", "--author", "bo")
        eventually(lambda: self.ana.get(ref)["fields"]["status"] == "expired", message="bo's edit on ana")
        Select(browser.driver.find_element(By.ID, "field-status")).select_by_value("negotiating")
        browser.driver.find_element(By.CSS_SELECTOR, "#edit-form button[type=submit]").click()
        browser.wait_text("#error-status", "changed since the form was opened")
        self.assertIn("Not saved", browser.driver.find_element(By.ID, "form-status").text)
        self.assertEqual(self.ana.get(ref)["fields"]["status"], "expired")
        browser.screenshot("edit-stale")

    def test_8_the_page_says_when_the_daemon_stops(self):
        browser = self.browser(self.bo)
        browser.wait_text("#connection", "live")
        self.bo.stop()
        browser.wait_text("#connection", "stopped", timeout=15)
        browser.screenshot("daemon-stopped")
        self.bo.start()
        browser.wait_text("#connection", "live", timeout=20)


    # ---- The schema, changed in the app and followed by every page --------

    @staticmethod
    def submit(browser, form_id):
        """Clicks a form's submit button, scrolled to the middle of the window (the toast sits bottom right)."""
        button = browser.driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]")
        browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()

    def schema_form(self, browser, daemon):
        browser.open(daemon, "/schema")
        browser.wait_text("h1", "Schema")
        return eventually(lambda: browser.driver.find_element(By.ID, "add-field-form"), message="the Schema page's forms")

    def test_9a_a_field_added_in_one_browser_appears_in_the_other_without_a_restart(self):
        self.wait_in_sync()
        pids = (self.ana.process.pid, self.bo.process.pid)
        author = self.browser(self.ana)
        watcher = self.browser(self.bo)
        watcher.open(self.bo, "/c/agreements")
        watcher.wait_text("#records caption", "Records 1–")
        # Anything the page was told since it loaded would be lost by a reload.
        watcher.driver.execute_script("window.__sameDocument = true")
        self.assertFalse(watcher.driver.find_elements(By.CSS_SELECTOR, "#records th[data-field=value_usd]"))

        self.schema_form(author, self.ana)
        driver = author.driver
        Select(driver.find_element(By.ID, "add-field-collection")).select_by_value("agreements")
        driver.find_element(By.ID, "add-field-name").send_keys("value_usd")
        Select(driver.find_element(By.ID, "add-field-type")).select_by_value("decimal")
        driver.find_element(By.ID, "add-field-description").send_keys("Headline value in USD")
        started = time.time()
        self.submit(author, "add-field-form")
        author.wait_text("#schema-result", "_schema/f.agreements.value_usd")
        self.assertIn("decimal", driver.find_element(By.CSS_SELECTOR, "#schema-agreements tr[data-field=value_usd]").text)
        driver.execute_script("window.scrollTo(0, 0)")
        author.screenshot("schema")

        # bo's open table gains the column: the schema record came from ana, no reload, no restart.
        eventually(lambda: watcher.driver.find_elements(By.CSS_SELECTOR, "#records th[data-field=value_usd]"), timeout=15,
                   message="the new column in bo's open table")
        FIGURES["field added in ana's browser → column in bo's browser (s)"] = round(time.time() - started, 3)
        self.assertTrue(watcher.driver.execute_script("return window.__sameDocument === true"))
        watcher.screenshot("schema-new-column")
        # …and the form: bo gives the new field a value, and it reaches ana.
        watcher.driver.find_element(By.CSS_SELECTOR, "#records tbody tr[data-id=us-cn-trade-truce-2025] a").click()
        watcher.wait_text("h1", "truce")
        watcher.driver.find_element(By.ID, "edit-link").click()
        watcher.wait_text("h1", "Edit agreements/us-cn-trade-truce-2025")
        value = watcher.driver.find_element(By.ID, "field-value_usd")
        self.assertIn("Headline value in USD", watcher.driver.find_element(By.CSS_SELECTOR, "label[for=field-value_usd]").text)
        value.send_keys("1250.5")
        watcher.driver.find_element(By.CSS_SELECTOR, "#edit-form button[type=submit]").click()
        watcher.wait_text("dd[data-field=value_usd]", "1250.5")
        eventually(lambda: self.ana.get("agreements/us-cn-trade-truce-2025")["fields"].get("value_usd") == "1250.5", timeout=15,
                   message="bo's value for the new field on ana")
        self.assertTrue(watcher.driver.execute_script("return window.__sameDocument === true"))

        # A collection added on bo shows in ana's open list of collections.
        author.open(self.ana, "/collections")
        author.wait_text("h1", "Data")
        watcher.open(self.bo, "/schema")
        form = eventually(lambda: watcher.driver.find_element(By.ID, "add-collection-form"), message="bo's Schema page")
        form.find_element(By.ID, "add-collection-name").send_keys("mines")
        form.find_element(By.ID, "add-collection-description").send_keys("Mines and deposits")
        self.submit(watcher, "add-collection-form")
        watcher.wait_text("#schema-result", "_schema/c.mines")
        eventually(lambda: "mines" in [e.text for e in author.driver.find_elements(By.CSS_SELECTOR, "main .card strong")], timeout=15,
                   message="the new collection in ana's open list")
        self.assertEqual((self.ana.process.pid, self.bo.process.pid), pids)
        self.assertEqual(author.console_errors(), [])
        self.assertEqual(watcher.console_errors(), [])

    def test_9b_a_refused_change_shows_its_reason(self):
        browser = self.browser(self.ana)
        self.schema_form(browser, self.ana)
        driver = browser.driver
        hash_before = driver.execute_script("return document.body.dataset.schema")
        # A field that exists, with another type: a type is never changed.
        Select(driver.find_element(By.ID, "add-field-collection")).select_by_value("agreements")
        driver.find_element(By.ID, "add-field-name").send_keys("title")
        Select(driver.find_element(By.ID, "add-field-type")).select_by_value("integer")
        self.submit(browser, "add-field-form")
        browser.wait_text("#add-field-status", "a type is never changed")
        message = driver.find_element(By.ID, "add-field-status").text
        self.assertIn("Not changed: schema change refused: field 'agreements.title' exists already as text", message)
        self.assertEqual(driver.switch_to.active_element.get_attribute("id"), "add-field-status")
        browser.screenshot("schema-refused")
        # An enum value that is allowed already.
        Select(driver.find_element(By.ID, "add-value-field")).select_by_value("agreements.status")
        driver.find_element(By.ID, "add-value-value").send_keys("active")
        self.submit(browser, "add-value-form")
        browser.wait_text("#add-value-status", "'active' is allowed already")
        self.assertEqual(json.loads(self.ana.ctl("schema", "show", "agreements", "--json"))["collections"][0]["fields"][0]["type"], "text")
        self.assertEqual(driver.execute_script("return document.body.dataset.schema"), hash_before)

    def test_9c_a_deprecated_field_leaves_forms_and_tables_and_stays_readable(self):
        ref = "agreements/us-cn-trade-truce-2025"
        kind = self.bo.get(ref)["fields"]["kind"]
        self.assertTrue(kind)
        author = self.browser(self.ana)
        watcher = self.browser(self.bo)
        watcher.open(self.bo, "/c/agreements")
        watcher.wait_text("#records caption", "Records 1–")
        self.assertTrue(watcher.driver.find_elements(By.CSS_SELECTOR, "#records th[data-field=kind]"))
        self.assertTrue(watcher.driver.find_elements(By.ID, "filter-kind"))

        self.schema_form(author, self.ana)
        driver = author.driver
        # A label first: forms and tables show it instead of the name.
        Select(driver.find_element(By.ID, "describe-field")).select_by_value("agreements.value_usd")
        label = driver.find_element(By.ID, "describe-label")
        label.clear()
        label.send_keys("Value (USD)")
        self.submit(author, "describe-form")
        author.wait_text("#schema-result", "changed the schema")
        eventually(lambda: watcher.driver.find_element(By.XPATH, "//fieldset[contains(@class, 'columns')]//label[input[@value='value_usd']]").text.strip()
                   == "Value (USD)", timeout=15, message="the label in bo's column choice")
        # Then deprecate agreements.kind (the browser asks first).
        Select(driver.find_element(By.ID, "deprecate-field-field")).select_by_value("agreements.kind")
        self.submit(author, "deprecate-field-form")
        alert = eventually(lambda: driver.switch_to.alert, message="the confirmation")
        self.assertIn("agreements.kind", alert.text)
        alert.accept()
        author.wait_text("#schema-result", "_schema/f.agreements.kind")
        self.assertIn("deprecated", driver.find_element(By.CSS_SELECTOR, "#schema-agreements tr[data-field=kind]").text)

        # bo's open table loses the column, its filter and its column choice.
        eventually(lambda: not watcher.driver.find_elements(By.CSS_SELECTOR, "#records th[data-field=kind]")
                   and not watcher.driver.find_elements(By.ID, "filter-kind")
                   and not watcher.driver.find_elements(By.CSS_SELECTOR, ".columns input[value=kind]"), timeout=15,
                   message="kind gone from bo's table")
        watcher.open(self.bo, "/r/" + ref + "/edit")
        watcher.wait_text("h1", "Edit " + ref)
        self.assertFalse(watcher.driver.find_elements(By.ID, "field-kind"))
        self.assertTrue(watcher.driver.find_elements(By.ID, "field-status"))
        # Saving another field leaves kind as it was.
        Select(watcher.driver.find_element(By.ID, "field-status")).select_by_value("negotiating")
        watcher.driver.find_element(By.CSS_SELECTOR, "#edit-form button[type=submit]").click()
        watcher.wait_text("dd[data-field=status]", "negotiating")
        self.assertEqual(self.bo.get(ref)["fields"]["kind"], kind)
        # The record's page still shows its value, under "Deprecated fields".
        self.assertFalse(watcher.driver.find_elements(By.CSS_SELECTOR, "main > dl.fields dd[data-field=kind]"))
        section = watcher.driver.find_element(By.ID, "deprecated-fields")
        self.assertIn(kind, section.find_element(By.CSS_SELECTOR, "dd[data-field=kind]").text)
        self.assertIn("Value (USD)", watcher.driver.find_element(By.CSS_SELECTOR, "#label-value_usd").text)
        watcher.screenshot("record-deprecated-field")
        self.assertEqual(watcher.console_errors(), [])
    def test_9d_a_change_made_with_syncctl_reaches_open_pages_on_both_daemons(self):
        here = self.browser(self.bo)
        there = self.browser(self.ana)
        for browser, daemon in ((here, self.bo), (there, self.ana)):
            browser.open(daemon, "/c/countries")
            browser.wait_text("#records caption", "Records 1–")
        started = time.time()
        # Another process on bo's machine: bo's daemon takes it up on its poll, ana's receives it.
        self.bo.ctl("schema", "add-field", "countries", "capital", "text", "--description", "Seat of government")
        for browser, where in ((here, "bo"), (there, "ana")):
            eventually(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "#records th[data-field=capital]"), timeout=15,
                       message=f"the column made with syncctl in {where}'s open table")
        FIGURES["syncctl schema add-field on bo → column in ana's browser (s)"] = round(time.time() - started, 3)
        self.assertEqual(here.console_errors(), [])
        self.assertEqual(there.console_errors(), [])

    def test_9f_a_daemon_that_joined_by_snapshot_says_so_on_its_overview(self):
        # ana holds 400 more agreements; cy starts with the seed only, far behind.
        rows = "id,title,status\n" + "".join(f"join-{n},Agreement {n},active\n" for n in range(400))
        path = os.path.join(self.root, "join-import.csv")
        with open(path, "w") as f:
            f.write(rows)
        self.ana.ctl("import", path, "--collection", "agreements")
        cy = Daemon(self.root, "cy")
        with open(os.path.join(cy.dir, "config.yaml"), "a") as f:
            f.write("join:\n  min_behind_seqs: 200\n")
        cy.peer_with(self.ana)
        self.ana.peer_with(cy, dial=False)
        try:
            cy.start()
            eventually(lambda: "joined by snapshot" in open(cy.log_path).read(), timeout=60, message="cy joined by snapshot")
            eventually(lambda: cy.ctl("digest").strip() == self.ana.ctl("digest").strip(), timeout=30, message="cy equal to ana")
            browser = self.browser(cy)
            driver = browser.driver
            browser.wait_text("h1", "Overview")
            eventually(lambda: "joined by snapshot from ana" in driver.find_element(By.ID, "peers").text, message="the join on cy's overview")
            headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#peers thead th")]
            self.assertIn("Snapshot (joining)", headers)
            browser.screenshot("overview-joined-by-snapshot")
            self.assertEqual(browser.console_errors(), [])
        finally:
            cy.stop()
            self.ana.ctl("peers", "remove", "cy")

    def test_9e_text_typed_in_a_schema_form_survives_a_schema_change(self):
        browser = self.browser(self.ana)
        self.schema_form(browser, self.ana)
        driver = browser.driver
        driver.find_element(By.ID, "add-field-name").send_keys("half_typed")
        driver.find_element(By.TAG_NAME, "h1").click()  # focus leaves the form
        self.ana.ctl("schema", "add-field", "countries", "motto", "text")
        # The page hears of the change (a toast says so) but does not redraw over the typed name.
        eventually(lambda: "motto" in driver.find_element(By.TAG_NAME, "body").text or "schema changed" in driver.find_element(By.TAG_NAME, "body").text.lower(),
                   timeout=15, message="the page heard of the schema change")
        time.sleep(2.5)
        self.assertEqual(driver.find_element(By.ID, "add-field-name").get_attribute("value"), "half_typed")
        self.assertEqual(browser.console_errors(), [])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    print("figures:", json.dumps(FIGURES, ensure_ascii=False))
    sys.exit(0 if result.wasSuccessful() else 1)
