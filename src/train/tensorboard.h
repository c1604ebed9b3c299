/* TensorBoard event files of a training run (`tensorboard: true` or
 * `train --tensorboard`): the scalars of log.jsonl's "train" and "valid"
 * events as "train/KEY" and "valid/KEY", written to
 * LOG_DIR/events.out.tfevents.TIME.sketchbert.PID. The writer follows the
 * log: each sb_tb_follow reads the lines appended since the last one, so it
 * writes exactly what the log holds. Format: TFRecord (uint64 length,
 * masked CRC-32C of the length, data, masked CRC-32C of the data) of Event
 * protobufs (wall_time, step, file_version or a Summary of simple_value
 * scalars), encoded by hand.
 * defines: sb_tb_writer, sb_tb_open, sb_tb_follow, sb_tb_close, sb_crc32c */
#ifndef SB_TRAIN_TENSORBOARD_H
#define SB_TRAIN_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_tb_writer sb_tb_writer;

/* Starts an event file in log_dir; follows log_path from its current end. */
int sb_tb_open(sb_tb_writer **w, const char *log_dir, const char *log_path);
/* Writes the scalars of the complete lines appended to the log since the
 * last call, and flushes. */
int sb_tb_follow(sb_tb_writer *w);
void sb_tb_close(sb_tb_writer *w); /* NULL is fine */

/* CRC-32C (Castagnoli), as TFRecord uses (before masking). */
uint32_t sb_crc32c(const void *data, size_t n);

#endif
