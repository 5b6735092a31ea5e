-- fill_job: a Celery job from the template of dispatcher.queueing.job_payloads, for one task id,
-- argument (a message id or ids) and queue. The markers are the template's; the values hold no
-- '%', which gsub would read in a replacement.
local function fill_job(template, task_id, argument, queue)
  local job = string.gsub(template, 'SMSDTASKID', task_id)
  job = string.gsub(job, 'SMSDMSGID', argument)
  job = string.gsub(job, 'SMSDQUEUE', queue)
  return job
end
