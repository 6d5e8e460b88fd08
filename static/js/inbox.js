// The inbox's follow-up presets ("Call patient", "Repeat test in 3 months"): a click fills the task's title and due
// date; the clinician can still change both before creating the task. Delegated, so rows swapped in by htmx work.
document.addEventListener("click", (e) => {
  const pick = e.target.closest("[data-task-title]");
  if (!pick) { return; }
  const title = document.getElementById(pick.dataset.taskForm);
  const due = document.getElementById(pick.dataset.taskForm.replace("task-", "due-"));
  if (title) { title.value = pick.dataset.taskTitle; }
  if (due) { due.value = pick.dataset.taskDue; }
  if (title) { title.focus(); }
});
