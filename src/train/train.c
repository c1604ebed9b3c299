/* The training loop (see train.h); set-up and checkpoints in trainer.c,
 * evaluation in evaluate.c, the data-parallel steps in data_parallel.c.
 * Shapes: B sketches per step (3B for triplets: anchor, positive,
 * negative per triplet, interleaved). */
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dist/dist.h"
#include "io/atomic_file.h"
#include "ops/adam.h"
#include "ops/attention.h"
#include "ops/gemm.h"
#include "ops/grad_norm.h"
#include "train/trainer.h"

static void format_duration(char *buf, size_t cap, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
// ---- training

static double learning_rate(const sb_config *cfg, int64_t step, int64_t total) {
    double f = 1.0;
    if (cfg->warmup_steps > 0 && step < cfg->warmup_steps) f = (double)(step + 1) / cfg->warmup_steps;
    if (cfg->lr_schedule == SB_LR_COSINE && total > 0) f *= 0.5 * (1.0 + cos(M_PI * (double)step / (double)total));
    return cfg->learning_rate * f;
}

/* The first non-finite value of the batch's inputs, named into buf; 0
 * when all are finite (a config such as max_scale_factor 1e39 overflows). */
static int batch_nonfinite(const sb_batch *b, char *buf, size_t cap) {
    size_t tin = (size_t)(b->max_length + b->tokens), t = (size_t)b->max_length;
    const struct { const char *name; const float *v; size_t row; } in[] = {
        {"input", b->input, tin * 5}, {"stroke", b->stroke, t * 5}, {"length_mask", b->length_mask, tin}};
    for (size_t k = 0; k < sizeof in / sizeof in[0]; k++)
        for (size_t i = 0; i < (size_t)b->size * in[k].row; i++)
            if (!isfinite(in[k].v[i])) {
                snprintf(buf, cap, "batch tensor '%s' holds %g (sketch %zu of the batch, dataset index %u)", in[k].name,
                         (double)in[k].v[i], i / in[k].row, b->index[i / in[k].row]);
                return 1;
            }
    return 0;
}

/* Names the non-finite loss terms and the first gradient tensor that is
 * not finite into buf (read from the device: only on this rare path). */
static void name_nonfinite(trainer *tr, const sb_loss_terms *lt, char *buf, size_t cap) {
    term t[6];
    int n = sb_tlog_terms(tr, lt, t);
    size_t len = (size_t)snprintf(buf, cap, "loss");
    for (int i = 0; i < n && len < cap; i++)
        if (!isfinite(t[i].value)) len += (size_t)snprintf(buf + len, cap - len, " %s %g", t[i].name, (double)t[i].value);
    if (len < cap) len += (size_t)snprintf(buf + len, cap - len, " total %g", (double)lt->total);
    size_t max_numel = 1;
    for (int i = 0; i < tr->n_params; i++)
        if (tr->params[i].grad.numel > max_numel) max_numel = tr->params[i].grad.numel;
    float *host = malloc(max_numel * sizeof *host);
    for (int i = 0; host && i < tr->n_params; i++) {
        const sb_param *p = &tr->params[i];
        if (sb_tensor_read(tr->rt, &p->grad, host)) break;
        size_t j = 0;
        while (j < p->grad.numel && isfinite(host[j])) j++;
        if (j < p->grad.numel) {
            if (len < cap) snprintf(buf + len, cap - len, "; first non-finite gradient: %s", p->name);
            break;
        }
    }
    free(host);
}

/* Gradient norm (and clipping) when asked; *finite says whether the loss
 * and the gradients are finite. */
static int check_and_clip(trainer *tr, const sb_loss_terms *lt, int *finite, float *norm) {
    const sb_config *cfg = tr->cfg;
    *finite = isfinite(lt->total) != 0;
    *norm = NAN;
    if (cfg->grad_clip <= 0 && !cfg->skip_nonfinite) return 0;
    SB_TRY(sb_grad_norm(tr->rt, tr->grads, tr->n_params, &tr->norm_work, &tr->norm));
    SB_TRY(sb_grad_norm_read(tr->rt, &tr->norm, norm));
    *finite = *finite && isfinite(*norm);
    if (*finite && cfg->grad_clip > 0) SB_TRY(sb_grad_clip(tr->rt, tr->grads, tr->n_params, &tr->norm, (float)cfg->grad_clip));
    return 0;
}

static int adam_all(trainer *tr, double lr) {
    const sb_config *cfg = tr->cfg;
    sb_adam_config ac = {lr, 0.9, 0.999, 1e-8, cfg->weight_decay, cfg->optimizer == SB_OPTIMIZER_ADAMW};
    int present[SB_N_NETS] = {0};
    for (int i = 0; i < tr->n_params; i++) {
        const sb_param *p = &tr->params[i];
        present[p->net] = 1;
        SB_TRY(sb_adam_step(tr->rt, &ac, (long)tr->counters.opt_step[p->net] + 1, &p->value, &p->grad, &tr->exp_avg[i],
                            &tr->exp_avg_sq[i]));
    }
    for (int n = 0; n < SB_N_NETS; n++) tr->counters.opt_step[n] += present[n];
    return 0;
}

static int validate_and_save(trainer *tr, FILE *out) {
    sb_eval_result r;
    double t0 = now();
    SB_TRY(sb_trainer_evaluate(tr, &r, NULL));
    int64_t t = tr->counters.step;
    double metric = sb_trainer_best_metric(tr, &r);
    /* a non-finite validation (diverged weights) never becomes best */
    if (isfinite(metric) && metric >= tr->counters.best_metric) tr->counters.best_metric = metric, tr->counters.best_step = t;
    if (out) {
        fprintf(out, "valid step %lld (%ld sketches, %.1fs):", (long long)t, r.sketches, now() - t0);
        sb_tlog_eval(tr, out, &r, 0);
        fprintf(out, "%s\n", tr->counters.best_step == t ? " (best)" : "");
        fflush(out);
    }
    sb_tlog_begin(tr, "valid", (long long)t);
    fprintf(tr->log, ",\"sketches\":%ld", r.sketches);
    sb_tlog_eval(tr, tr->log, &r, 1);
    fprintf(tr->log, ",\"best\":%s}\n", tr->counters.best_step == t ? "true" : "false");
    char path[SB_CONFIG_PATH_MAX + 64];
    /* best before latest: a run killed between the two resumes from the
     * older latest and writes this best again, as the uninterrupted run */
    if (tr->counters.best_step == t) SB_TRY(sb_trainer_save(tr, "best", path, sizeof path));
    SB_TRY(sb_trainer_save(tr, "latest", path, sizeof path));
    return tr->tb ? sb_tb_follow(tr->tb) : 0;
}

/* The steps of this run: from the current step to end, of total. */
typedef struct span {
    sb_loader *loader;
    int64_t per_epoch, end, total;
} span;

static int plan_span(const trainer *tr, const sb_train_options *opt, span *sp) {
    const sb_config *cfg = tr->cfg;
    SB_TRY(sb_loader_open_shard(&sp->loader, tr->train_set, cfg->batch_size, tr->ranks, tr->rank, 1, 0,
                                (uint64_t)tr->counters.step));
    sp->per_epoch = (int64_t)sb_loader_batches_per_epoch(sp->loader);
    sp->end = sp->per_epoch * cfg->num_epoch;
    if (cfg->num_iterations > 0 && cfg->num_iterations < sp->end) sp->end = cfg->num_iterations;
    sp->total = sp->end;
    if (opt->max_steps > 0 && tr->counters.step + opt->max_steps < sp->end) sp->end = tr->counters.step + opt->max_steps;
    return 0;
}

/* 1 when a validation step (a multiple of checkpoint_every) falls in the span. */
static int validates(const trainer *tr, const span *sp) {
    int64_t k = tr->cfg->checkpoint_every;
    return k > 0 && sp->end / k > tr->counters.step / k;
}

/* A stop request: latest_ckpt and the log record. */
static int stop_run(trainer *tr, FILE *out) {
    char path[SB_CONFIG_PATH_MAX + 64];
    SB_TRY(sb_trainer_save(tr, "latest", path, sizeof path));
    if (out) fprintf(out, "stopped at step %lld; wrote %s\n", (long long)tr->counters.step, path);
    sb_tlog_begin(tr, "stopped", (long long)tr->counters.step), fprintf(tr->log, "}\n");
    return 0;
}

/* The next batch's forward, backward and gradients, summed over the ranks
 * and clipped; *finite says whether it may update the model. A stop
 * requested on any rank (*stop, with several ranks) ends the step before
 * its backward. */
static int compute_step(trainer *tr, sb_loader *l, const sb_batch **batch, uint64_t *s, uint64_t *epoch,
                        sb_loss_terms *lt, int *finite, float *norm, char *cause, size_t cap, int *stop) {
    SB_TRY(sb_loader_next(l, batch, s, epoch));
    int ran = (*batch)->size > 0; /* a rank's slice of a short last batch may be empty */
    /* a non-finite batch is caught before it reaches the model */
    *finite = !ran || !batch_nonfinite(*batch, cause, cap);
    if (ran && *finite) SB_TRY(sb_model_forward(tr->model, *batch, 1, tr->cfg->seed, *s, 1));
    if (tr->ranks > 1) SB_TRY(sb_dp_agree(tr, ran && *finite, finite, stop));
    if (*stop) return 0;
    if (!*finite) {
        *lt = (sb_loss_terms){NAN, NAN, NAN, NAN, NAN, NAN, NAN}; /* the model did not run */
        if (!cause[0]) snprintf(cause, cap, "a batch tensor of another rank is not finite (its log says which)");
        return 0;
    }
    /* with several ranks the backward starts the gradients' sums */
    int rc = ran ? sb_model_backward(tr->model) : 0;
    if (!rc && ran) rc = sb_model_read_losses(tr->model, lt);
    if (tr->ranks > 1) {
        double t0 = now();
        rc = sb_dp_reduce(tr, ran, rc, lt);
        tr->sum_wait_s += now() - t0;
    }
    SB_TRY(rc);
    return check_and_clip(tr, lt, finite, norm);
}

static int run(trainer *tr, const sb_train_options *opt, const span *sp) {
    const sb_config *cfg = tr->cfg;
    FILE *out = opt->out;
    sb_loader *l = sp->loader;
    int64_t per_epoch = sp->per_epoch, end = sp->end, total = sp->total;
    if (out) {
        fprintf(out, "training %lld steps (%lld per epoch, %u sketches) from step %lld to %lld; log in %s\n",
                (long long)total, (long long)per_epoch, sb_dataset_size(tr->train_set), (long long)tr->counters.step,
                (long long)end, cfg->log_dir);
        fflush(out);
    }
    char path[SB_CONFIG_PATH_MAX + 64];
    int rc = 0, saved_at_end = 0;
    double window_start = now();
    int64_t window_steps = 0, window_sketches = 0, skipped = 0;
    sb_loss_terms lt = {0};
    while (tr->counters.step < end && !rc) {
        /* with several ranks the request is shared after the forward */
        int stop = opt->stop && *opt->stop;
        if (stop && tr->ranks <= 1) {
            rc = stop_run(tr, out);
            saved_at_end = 1;
            break;
        }
        const sb_batch *batch;
        uint64_t s = (uint64_t)tr->counters.step, epoch;
        int finite;
        float norm = NAN;
        char cause[512] = "";
        rc = compute_step(tr, l, &batch, &s, &epoch, &lt, &finite, &norm, cause, sizeof cause, &stop);
        if (rc) {
            rc = sb_trainer_memory_hint(sb_fail_context(rc, "step %llu", (unsigned long long)s + 1), cfg);
            break;
        }
        if (stop) {
            rc = stop_run(tr, out);
            saved_at_end = 1;
            break;
        }
        if (!finite) {
            if (!cause[0]) name_nonfinite(tr, &lt, cause, sizeof cause);
            sb_tlog_begin(tr, "nonfinite", (long long)s + 1);
            sb_tlog_losses(tr, tr->log, &lt, 1);
            sb_tlog_num(tr->log, "grad_norm", norm);
            fprintf(tr->log, ",\"cause\":");
            sb_tlog_str(tr->log, cause);
            fprintf(tr->log, ",\"skipped\":%s}\n", cfg->skip_nonfinite ? "true" : "false");
            fflush(tr->log);
            if (!cfg->skip_nonfinite) {
                rc = sb_fail(SB_ERR_INVALID, "step %llu: not finite: %s; stopped without saving (last good checkpoint: "
                             "%s; set skip_nonfinite to skip such steps)", (unsigned long long)s + 1, cause,
                             tr->last_ckpt[0] ? tr->last_ckpt : "none written by this run");
                break;
            }
            skipped++;
        } else {
            double lr = learning_rate(cfg, (int64_t)s, total);
            rc = adam_all(tr, lr);
            if (rc) {
                rc = sb_trainer_memory_hint(sb_fail_context(rc, "step %llu: optimizer", (unsigned long long)s + 1), cfg);
                break;
            }
        }
        int64_t t = tr->counters.step = (int64_t)s + 1;
        tr->counters.epoch = t / per_epoch + 1;
        window_steps++, window_sketches += (int64_t)batch->global * (tr->triplet ? 3 : 1);
        if (!rc && (rc = sb_dp_check(tr, t)) != 0) rc = sb_fail_context(rc, "step %lld", (long long)t);
        if (cfg->print_every > 0 && t % cfg->print_every == 0) {
            double dt = now() - window_start, rate = window_steps / (dt > 0 ? dt : 1e-9);
            char eta[32];
            format_duration(eta, sizeof eta, (double)(end - t) / rate);
            if (out) {
                fprintf(out, "train epoch %llu step %lld/%lld:", (unsigned long long)epoch + 1, (long long)t,
                        (long long)total);
                sb_tlog_losses(tr, out, &lt, 0);
                fprintf(out, " | %.2f steps/s %.1f sketches/s | ETA %s", rate, window_sketches / (dt > 0 ? dt : 1e-9), eta);
                if (skipped) fprintf(out, " | %lld steps skipped", (long long)skipped);
                fprintf(out, "\n");
                fflush(out);
            }
            sb_tlog_begin(tr, "train", (long long)t);
            fprintf(tr->log, ",\"epoch\":%llu", (unsigned long long)epoch + 1);
            sb_tlog_losses(tr, tr->log, &lt, 1);
            sb_tlog_num(tr->log, "lr", learning_rate(cfg, (int64_t)s, total));
            sb_tlog_num(tr->log, "steps_per_s", rate);
            sb_tlog_num(tr->log, "sketches_per_s", window_sketches / (dt > 0 ? dt : 1e-9));
            if (tr->ranks > 1) sb_tlog_num(tr->log, "sum_wait_ms", 1e3 * tr->sum_wait_s / (double)window_steps);
            fprintf(tr->log, "}\n");
            fflush(tr->log);
            if (tr->tb) rc = sb_tb_follow(tr->tb);
            window_start = now(), window_steps = window_sketches = 0, tr->sum_wait_s = 0;
        }
        saved_at_end = 0;
        if (!rc && cfg->checkpoint_every > 0 && t % cfg->checkpoint_every == 0) {
            rc = validate_and_save(tr, out);
            if (rc) rc = sb_fail_context(rc, "step %lld", (long long)t);
            saved_at_end = 1;
        }
        if (!rc && cfg->save_model_every > 0 && t % cfg->save_model_every == 0) {
            char name[64];
            snprintf(name, sizeof name, "iter_%lld", (long long)t);
            rc = sb_trainer_save(tr, name, path, sizeof path);
        }
    }
    /* the state the run ends with, for `continue` and for use */
    if (!rc && !saved_at_end) {
        rc = sb_trainer_save(tr, "latest", path, sizeof path);
        if (!rc && out) fprintf(out, "step %lld: wrote %s\n", (long long)tr->counters.step, path);
    }
    return rc;
}
// ---- starting a run

/* A run already in log_dir is continued (load_pretrained continue),
 * replaced (*replace, with overwrite) or refused. */
static int check_run_dir(const trainer *tr, const sb_train_options *opt, int *replace) {
    char what[1024];
    *replace = 0;
    if (!sb_run_dir_find_run(tr->dir, what, sizeof what) || tr->cfg->load_pretrained == SB_LOAD_CONTINUE) return 0;
    if (opt->overwrite) return *replace = 1, 0;
    return sb_fail(SB_ERR_INVALID, "%s already holds a run (%s); to keep it, resume it with --continue or train into "
                   "another --log-dir; --overwrite replaces it", tr->cfg->log_dir, what);
}

static int restore_start(trainer *tr, const sb_train_options *opt) {
    const sb_config *cfg = tr->cfg;
    const char *path = cfg->restore_checkpoint_path;
    if (cfg->load_pretrained == SB_LOAD_SCRATCH) return 0;
    int cont = cfg->load_pretrained == SB_LOAD_CONTINUE;
    struct stat st;
    if (cont && path[0] && stat(path, &st) != 0)
        return sb_fail(SB_ERR_INVALID, "nothing to continue: %s does not exist (--continue / load_pretrained continue "
                       "resume a run that wrote it; train without them to start one)", path);
    unsigned all = SB_RESTORE_ENC_NET | SB_RESTORE_ENC_OPT | SB_RESTORE_TASK_NET | SB_RESTORE_TASK_OPT;
    if (cont && (cfg->which_pretrained & all) != all && opt->warn)
        fprintf(opt->warn, "warning: load_pretrained continue without all of which_pretrained [enc_net, enc_opt, "
                           "task_net, task_opt]: what is not restored starts fresh\n");
    SB_TRY(sb_trainer_restore(tr, cfg->which_pretrained, cont, path));
    if (opt->out) {
        /* pretrained weights count from 0 here; say which step they are from */
        char *t = cont ? NULL : sb_trainer_checkpoint_meta(path, "counters.t");
        fprintf(opt->out, "restored %s from %s (step %s%lld)\n", cont ? "the run" : "pretrained weights", path,
                cont || t ? "" : "unknown, ", cont ? (long long)tr->counters.step : t ? strtoll(t, NULL, 10) : 0);
        free(t);
    }
    return 0;
}

/* Training sketches that max_length cuts: the transform keeps max_length
 * points with the leading zero point, so n >= max_length points lose some
 * (with input_is_complete they are skipped instead). */
static int64_t count_cut(const trainer *tr) {
    const sb_config *cfg = tr->cfg;
    int64_t cut = 0;
    uint32_t n = sb_dataset_size(tr->train_set), len;
    int label;
    for (uint32_t i = 0; i < n && !cfg->input_is_complete; i++) {
        sb_dataset_points(tr->train_set, i, &len, &label);
        cut += len >= (uint32_t)cfg->max_length;
    }
    return cut;
}

/* config.yml, log.jsonl and its start record, and the start lines. */
static int start_log(trainer *tr, const sb_train_options *opt, int64_t cut) {
    const sb_config *cfg = tr->cfg;
    char path[SB_CONFIG_PATH_MAX + 64];
    if (tr->rank > 0) { /* rank 0 alone writes the run folder */
        tr->log = fopen("/dev/null", "w");
        return tr->log ? 0 : sb_fail(SB_ERR_IO, "cannot open /dev/null: %s", strerror(errno));
    }
    snprintf(path, sizeof path, "%s/config.yml", cfg->log_dir);
    sb_atomic_file af;
    SB_TRY(sb_atomic_open(&af, path));
    fputs(tr->config_yaml, af.f);
    SB_TRY(sb_atomic_commit(&af));
    snprintf(path, sizeof path, "%s/log.jsonl", cfg->log_dir);
    tr->log = fopen(path, "a");
    if (!tr->log) return sb_fail(SB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (cfg->tensorboard) SB_TRY(sb_tb_open(&tr->tb, cfg->log_dir, path));
    long long numel = 0;
    for (int i = 0; i < tr->n_params; i++) numel += tr->params[i].value.numel;
    sb_tlog_begin(tr, "start", (long long)tr->counters.step);
    fprintf(tr->log, ",\"param_tensors\":%d,\"params\":%lld,\"param_bytes\":%zu,\"activation_bytes\":%zu", tr->n_params,
            numel, sb_model_param_bytes(tr->model), sb_model_activation_bytes(tr->model));
    fprintf(tr->log, ",\"train_sketches\":%u,\"cut_sketches\":%lld", sb_dataset_size(tr->train_set), (long long)cut);
    /* what ran, not what the config asked for (`sketchbert report` shows it) */
    char device[300];
    snprintf(device, sizeof device, "%s: %s", tr->rt->info.platform_name, tr->rt->info.device_name);
    fputs(",\"device\":", tr->log);
    sb_tlog_str(tr->log, device);
    sb_gemm_path gemm = (sb_gemm_path)tr->rt->gemm_path; /* 0 before the first GEMM: the path it will take */
    if (!gemm && sb_gemm_path_for(&tr->rt->info, NULL, &gemm)) gemm = 0;
    sb_attention_impl att;
    if (gemm) fprintf(tr->log, ",\"gemm\":\"%s\"", sb_gemm_path_name(gemm));
    if (!sb_attention_choose(tr->rt, &att)) fprintf(tr->log, ",\"attention\":\"%s\"", sb_attention_impl_name(att));
    if (tr->ranks > 1) /* data-parallel: batch_size is per rank */
        fprintf(tr->log, ",\"ranks\":%d,\"global_batch\":%d", tr->ranks, tr->ranks * cfg->batch_size);
    fputs("}\n", tr->log);
    fflush(tr->log);
    if (opt->out)
        fprintf(opt->out, "device memory on %s: %.1f MiB of parameters, %.1f MiB of activations (batch %d)\n",
                tr->rt->info.device_name, sb_model_param_bytes(tr->model) / 1048576.0,
                sb_model_activation_bytes(tr->model) / 1048576.0, cfg->batch_size);
    return 0;
}

int sb_train(sb_runtime *rt, const sb_config *cfg, const sb_train_options *options) {
    trainer tr;
    sb_run_dir dir;
    span sp = {0};
    int replace = 0, rank0 = sb_dist_rank() == 0;
    /* data-parallel: rank 0 alone prints, locks and writes the run folder */
    sb_train_options o = *options;
    if (!rank0) o.out = o.warn = NULL;
    const sb_train_options *opt = &o;
    /* the folder is locked first; everything that can fail is checked
     * before anything in it changes */
    int rc = rank0 ? sb_run_dir_open(&dir, cfg->log_dir) : 0;
    if (rc) return rc;
    rc = sb_trainer_open(&tr, rt, cfg, 1);
    tr.dir = rank0 ? &dir : NULL;
    if (!rc) rc = sb_dp_open(&tr);
    if (!rc && rank0) rc = check_run_dir(&tr, opt, &replace);
    /* temporaries of a run killed while writing (kill -9, power loss) */
    static const char *const ours[] = {"_ckpt.safetensors", "config.yml"};
    if (!rc && rank0 && sb_atomic_remove_stale(cfg->log_dir, ours, 2, opt->out) < 0) rc = SB_ERR_IO;
    if (!rc && cfg->load_pretrained == SB_LOAD_CONTINUE) rc = sb_dp_check_resume(&tr, cfg->restore_checkpoint_path);
    if (!rc) rc = restore_start(&tr, opt);
    if (!rc) rc = plan_span(&tr, opt, &sp);
    if (!rc && validates(&tr, &sp)) rc = sb_trainer_open_eval_set(&tr, SB_SPLIT_VALID, cfg->each_val_samples);
    int64_t cut = rc ? 0 : count_cut(&tr);
    if (cut && opt->warn) {
        uint32_t n = sb_dataset_size(tr.train_set);
        fprintf(opt->warn, "warning: %lld of %u training sketches (%.1f%%) have more than %d points and are cut to %d "
                           "(max_length %d counts the leading zero point; `sketchbert data stats --config CONFIG` "
                           "shows the lengths)\n",
                (long long)cut, n, 100.0 * (double)cut / n, cfg->max_length - 1, cfg->max_length - 1, cfg->max_length);
    }
    if (!rc && replace) {
        rc = sb_run_dir_set_aside(&dir);
        if (!rc && opt->out)
            fprintf(opt->out, "overwrite: the old run waits in %s/replaced_run until this one writes a checkpoint\n",
                    cfg->log_dir);
    }
    rc = sb_dp_start(&tr, rc);
    if (!rc) rc = start_log(&tr, opt, cut);
    if (!rc) rc = sb_dp_rank_table(&tr, opt->out);
    if (!rc) rc = run(&tr, opt, &sp);
    if (rc && tr.log) {
        sb_tlog_begin(&tr, "failed", (long long)tr.counters.step);
        fprintf(tr.log, ",\"error\":");
        sb_tlog_str(tr.log, sb_last_error());
        fprintf(tr.log, "}\n");
    }
    sb_loader_close(sp.loader);
    sb_trainer_close(&tr);
    if (rank0) sb_run_dir_close(&dir, rc != 0);
    return rc;
}

