"""Both DAGs triggered from Airflow's UI form in a real (headless) browser, then run to success.

What an operator does: log in, open the DAG, press Trigger, keep the defaults, type one name or
regex into a text area, press Trigger in the form. The form must accept the defaults (an empty
optional field is not a missing value) and the regex typed as a string. The runs go through the
embedded Airflow's scheduler against the local cloud:

* ``os_migrate_pre_workload`` with the defaults (every type, export, import for real) and one
  regex in the security groups' text area, ``regex:^(web|ssh)$`` (the groups server ``demo-vm``
  uses): the sample tenant's networking, keypair and two of its three groups land in project dst;
* ``os_migrate_workloads`` with the server ``demo-vm`` and the Dry run switch on: export and
  pre-flight of the wave against what the first run imported, without stopping or copying
  anything (a real copy of the 1 GiB volume is what tests/integration/test_workloads.py does).

* ``os_migrate_workloads`` again with ``demo-vm`` and the Approval switch on, for real: the run
  stops at the HITL step ``approval``; its Required Actions panel shows the plan and the
  Approve button is pressed in the browser; the run then migrates ``demo-vm`` (ACTIVE in dst).

Screenshots of each form (defaults, filled) and each finished run are in ``test-output/ui/``
(and of the approval: ``os_migrate_workloads-approval-*.png``).
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from ..integration.conftest import wait_for
from .conftest import OUTPUT

PRE_WORKLOAD, WORKLOADS = "os_migrate_pre_workload", "os_migrate_workloads"
SG_REGEX = "regex:^(web|ssh)$"
SERVER = "demo-vm"


def shot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(OUTPUT / f"{name}.png"))


def log_in(driver: WebDriver, base_url: str) -> None:
    driver.get(f"{base_url}/")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys("admin")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/auth/login" not in d.current_url)


def open_trigger_form(driver: WebDriver, base_url: str, dag_id: str) -> WebElement:
    """The open "Trigger Dag" dialog of ``dag_id``."""
    driver.get(f"{base_url}/dags/{dag_id}")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Trigger Dag']").click()

    def dialog(d):
        return next(
            (
                e
                for e in d.find_elements(By.CSS_SELECTOR, "[role=dialog]")
                if e.is_displayed() and f"Trigger Dag - {dag_id}" in e.text
            ),
            False,
        )

    form = WebDriverWait(driver, 30).until(dialog)
    WebDriverWait(driver, 30).until(lambda d: form.find_elements(By.CSS_SELECTOR, "[data-part=item-trigger]"))
    return form


def section_titles(form: WebElement) -> list[str]:
    return [e.text.strip() for e in form.find_elements(By.CSS_SELECTOR, "[data-part=item-trigger]")]


def expand(driver: WebDriver, form: WebElement, section: str) -> None:
    trigger = form.find_element(By.CSS_SELECTOR, f"[data-part=item-trigger][id$=':trigger:{section}']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", trigger)
    if trigger.get_attribute("aria-expanded") != "true":
        WebDriverWait(driver, 10).until(lambda _: trigger.is_enabled())
        time.sleep(0.3)  # the accordion animates
        trigger.click()
    WebDriverWait(driver, 10).until(lambda _: trigger.get_attribute("aria-expanded") == "true")
    time.sleep(0.3)


def type_into(driver: WebDriver, form: WebElement, param: str, text: str) -> None:
    field = form.find_element(By.ID, f"element_{param}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    field.click()
    field.send_keys(text)


def switch_on(driver: WebDriver, form: WebElement, param: str) -> None:
    switch = form.find_element(By.ID, f"switch:element_{param}")  # Chakra's Switch.Root, a label
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", switch)
    if switch.get_attribute("data-state") != "checked":
        switch.find_element(By.CSS_SELECTOR, "[data-part=control]").click()
    WebDriverWait(driver, 10).until(lambda _: switch.get_attribute("data-state") == "checked")


def submit_button(form: WebElement) -> WebElement:
    return next(b for b in form.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger")


def trigger(driver: WebDriver, form: WebElement, api, dag_id: str) -> dict:
    """Press the form's Trigger button; the new run as the REST API shows it."""
    known = api.run_ids(dag_id)
    button = submit_button(form)
    assert button.is_enabled(), "the Trigger button is disabled"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    return api.wait_for_new_run(dag_id, known)


def finish(
    driver: WebDriver, api, base_url: str, dag_id: str, run: dict, timeout: float, label: str = "3-run"
) -> dict:
    run = api.wait_for_end(dag_id, run["dag_run_id"], timeout)
    driver.get(f"{base_url}/dags/{dag_id}/runs/{run['dag_run_id']}")
    time.sleep(3)  # let the grid render
    shot(driver, f"{dag_id}-{label}-{run['state']}")
    return run


@pytest.fixture(scope="module")
def ui(airflow_ui, api, browser, sample_cloud):
    for dag_id in (PRE_WORKLOAD, WORKLOADS):
        api.wait_for_dag(dag_id)
    log_in(browser, airflow_ui)
    return airflow_ui


def test_pre_workload_from_the_form_with_defaults_and_a_regex(ui, api, browser):
    form = open_trigger_form(browser, ui, PRE_WORKLOAD)
    shot(browser, f"{PRE_WORKLOAD}-1-form-defaults")

    assert section_titles(form)[:4] == ["Clouds and data", "Selection", "Name filters", "Run options"]
    assert submit_button(form).is_enabled(), "defaults must be triggerable (empty data dir is optional)"
    expand(browser, form, "Name filters")
    type_into(browser, form, "security_groups_filter", SG_REGEX)
    shot(browser, f"{PRE_WORKLOAD}-2-form-filled")
    run = trigger(browser, form, api, PRE_WORKLOAD)

    conf = run["conf"]
    assert conf["security_groups_filter"] == [SG_REGEX]
    assert conf["data_dir"] is None and conf["dry_run"] is False and conf["export"] is True
    run = finish(browser, api, ui, PRE_WORKLOAD, run, timeout=900)
    states = api.task_states(PRE_WORKLOAD, run["dag_run_id"])
    assert run["state"] == "success", states
    # every task ran, except creating the destination project, off by default (a real skip)
    assert states.pop(("create_dst_project", -1)) == "skipped"
    assert set(states.values()) == {"success"}


def test_pre_workload_imported_only_the_groups_the_regex_selects(sample_cloud):
    _, dst = sample_cloud
    groups = {g.name for g in dst.network.security_groups(project_id=dst.current_project_id)}

    assert groups == {"default", "web", "ssh"}
    assert {"app-net", "db-net"} <= {n.name for n in dst.network.networks(project_id=dst.current_project_id)}


def test_workloads_from_the_form_with_a_server_name_as_a_dry_run(ui, api, browser):
    form = open_trigger_form(browser, ui, WORKLOADS)
    shot(browser, f"{WORKLOADS}-1-form-defaults")

    assert section_titles(form)[:4] == ["Clouds and data", "Wave", "Disk copy", "Run options"]
    assert submit_button(form).is_enabled(), "defaults must be triggerable (empty data dir is optional)"
    expand(browser, form, "Wave")
    type_into(browser, form, "servers", SERVER)
    expand(browser, form, "Run options")
    switch_on(browser, form, "dry_run")
    shot(browser, f"{WORKLOADS}-2-form-filled")
    run = trigger(browser, form, api, WORKLOADS)

    assert run["conf"]["servers"] == [SERVER]
    assert run["conf"]["dry_run"] is True
    run = finish(browser, api, ui, WORKLOADS, run, timeout=600)
    states = api.task_states(WORKLOADS, run["dag_run_id"])
    assert run["state"] == "success", states
    assert states[("preflight", -1)] == "success"
    export = api.get(
        f"/dags/{WORKLOADS}/dagRuns/{run['dag_run_id']}/taskInstances/export_workloads/xcomEntries/return_value"
    )["value"]
    assert export["servers"] == [SERVER]


def test_workloads_with_approval_approved_in_the_ui_migrates_the_server(ui, api, browser, sample_cloud):
    src, dst = sample_cloud
    form = open_trigger_form(browser, ui, WORKLOADS)
    expand(browser, form, "Wave")
    type_into(browser, form, "servers", SERVER)
    expand(browser, form, "Run options")
    switch_on(browser, form, "approval")
    shot(browser, f"{WORKLOADS}-approval-1-form-filled")
    run = trigger(browser, form, api, WORKLOADS)
    run_id = run["dag_run_id"]
    assert run["conf"]["approval"] is True and run["conf"]["dry_run"] is False

    def approval_state():
        return api.task_states(WORKLOADS, run_id).get(("approval", -1))

    wait_for(lambda: approval_state() == "awaiting_input", "the approval step to wait for input", 600)
    assert src.compute.find_server(SERVER).status == "ACTIVE"  # nothing stopped before approval
    browser.get(f"{ui}/dags/{WORKLOADS}/runs/{run_id}/tasks/approval/required_actions")
    approve = WebDriverWait(browser, 60).until(
        lambda d: next(
            (
                b
                for b in d.find_elements(By.CSS_SELECTOR, "[data-testid='hitl-option-Approve']")
                if b.is_enabled()
            ),
            False,
        )
    )
    WebDriverWait(browser, 30).until(lambda d: "Servers to stop and migrate (1)" in d.page_source)
    assert SERVER in browser.page_source and "Expected bytes to copy" in browser.page_source
    shot(browser, f"{WORKLOADS}-approval-2-required-action")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", approve)
    approve.click()
    detail = wait_for(
        lambda: (
            (d := api.get(f"/dags/{WORKLOADS}/dagRuns/{run_id}/taskInstances/approval/-1/hitlDetails"))[
                "response_received"
            ]
            and d
        ),
        "the UI response",
        60,
    )
    assert detail["chosen_options"] == ["Approve"] and detail["responded_by_user"]["name"] == "admin"
    time.sleep(2)
    shot(browser, f"{WORKLOADS}-approval-3-approved")

    run = finish(browser, api, ui, WORKLOADS, run, timeout=900, label="approval-4-run")
    states = api.task_states(WORKLOADS, run_id)
    assert run["state"] == "success", states
    assert states[("approval", -1)] == "success"
    assert states[("migrate_server.copy_disks", 0)] == "success"
    server = wait_for(lambda: dst.compute.find_server(SERVER), f"{SERVER} in dst", 60)
    assert dst.compute.get_server(server.id).status == "ACTIVE"
