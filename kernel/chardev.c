// SPDX-License-Identifier: GPL-2.0
/*
 * phloem character device /dev/phloemN: the record stream and the ioctls.
 *
 * Every open file has its own ring of PHLOEM_RING_RECORDS records, filled by
 * phloem_chardev_push() from the sampling path. The producer never waits for
 * a reader: when a ring is full the oldest record is dropped and counted, and
 * the reader is told with a PHLOEM_REC_OVERFLOW record before anything else.
 */
#include <linux/capability.h>
#include <linux/cdev.h>
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/overflow.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "phloem.h"
#include "trace.h"

static dev_t phloem_devt;
static struct class *phloem_class;

/**
 * struct phloem_reader - one open file of /dev/phloemN
 * @node: entry in phloem_dev.readers
 * @pd: the device
 * @head: index of the oldest queued record
 * @count: records queued
 * @lost: records dropped since the last overflow record was read
 * @ring: PHLOEM_RING_RECORDS records
 *
 * @head, @count, @lost and @ring are protected by phloem_dev.readers_lock.
 */
struct phloem_reader {
	struct list_head node;
	struct phloem_dev *pd;
	u32 head;
	u32 count;
	u64 lost;
	struct phloem_record ring[];
};

/**
 * phloem_chardev_push() - queue a record for every opener
 * @pd: device
 * @rec: the record; its sequence number is assigned here
 *
 * Called with no lock held, from any context that may take a spinlock.
 */
void phloem_chardev_push(struct phloem_dev *pd, struct phloem_record *rec)
{
	struct phloem_reader *r;

	spin_lock(&pd->readers_lock);
	rec->hdr.seq = pd->seq++;
	list_for_each_entry(r, &pd->readers, node) {
		if (r->count == PHLOEM_RING_RECORDS) {
			r->head = (r->head + 1) % PHLOEM_RING_RECORDS;
			r->count--;
			r->lost++;
		}
		r->ring[(r->head + r->count) % PHLOEM_RING_RECORDS] = *rec;
		r->count++;
	}
	spin_unlock(&pd->readers_lock);
	wake_up_interruptible(&pd->wq);
}

static bool phloem_reader_ready(struct phloem_reader *r)
{
	struct phloem_dev *pd = r->pd;
	bool ready;

	spin_lock(&pd->readers_lock);
	ready = r->count || r->lost || pd->gone;
	spin_unlock(&pd->readers_lock);
	return ready;
}

/* Take the next record for @r, the overflow record first. */
static bool phloem_reader_pop(struct phloem_reader *r,
			      struct phloem_record *out)
{
	struct phloem_dev *pd = r->pd;
	bool got = true;

	spin_lock(&pd->readers_lock);
	if (r->lost) {
		memset(out, 0, sizeof(*out));
		out->hdr.type = PHLOEM_REC_OVERFLOW;
		out->hdr.size = PHLOEM_RECORD_SIZE;
		/* The sequence number of the record that follows the gap */
		out->hdr.seq = r->count ? r->ring[r->head].hdr.seq : pd->seq;
		out->hdr.time_ns = ktime_get_ns();
		out->overflow.lost = r->lost;
		r->lost = 0;
	} else if (r->count) {
		*out = r->ring[r->head];
		r->head = (r->head + 1) % PHLOEM_RING_RECORDS;
		r->count--;
	} else {
		got = false;
	}
	spin_unlock(&pd->readers_lock);
	return got;
}

static int phloem_open(struct inode *inode, struct file *file)
{
	struct phloem_dev *pd = container_of(inode->i_cdev, struct phloem_dev,
					     cdev);
	struct phloem_reader *r;

	r = kvzalloc(struct_size(r, ring, PHLOEM_RING_RECORDS), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->pd = pd;

	down_read(&pd->rwsem);
	if (pd->gone) {
		up_read(&pd->rwsem);
		kvfree(r);
		return -ENODEV;
	}
	get_device(&pd->cdev_dev);
	spin_lock(&pd->readers_lock);
	list_add_tail(&r->node, &pd->readers);
	spin_unlock(&pd->readers_lock);
	up_read(&pd->rwsem);

	file->private_data = r;
	return stream_open(inode, file);
}

static int phloem_release(struct inode *inode, struct file *file)
{
	struct phloem_reader *r = file->private_data;
	struct phloem_dev *pd = r->pd;

	spin_lock(&pd->readers_lock);
	list_del(&r->node);
	spin_unlock(&pd->readers_lock);
	kvfree(r);
	put_device(&pd->cdev_dev);
	return 0;
}

static ssize_t phloem_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	struct phloem_reader *r = file->private_data;
	struct phloem_dev *pd = r->pd;
	struct phloem_record rec;
	size_t done = 0;
	int ret;

	if (count < PHLOEM_RECORD_SIZE)
		return -EINVAL;

	while (!done) {
		if (!phloem_reader_pop(r, &rec)) {
			if (READ_ONCE(pd->gone))
				return -ENODEV;
			if (file->f_flags & O_NONBLOCK)
				return -EAGAIN;
			ret = wait_event_interruptible(pd->wq,
						       phloem_reader_ready(r));
			if (ret)
				return ret;
			continue;
		}
		/* A record popped but not copied is lost: say so */
		if (copy_to_user(buf, &rec, PHLOEM_RECORD_SIZE))
			return -EFAULT;
		done = PHLOEM_RECORD_SIZE;
	}

	/* Then as many more whole records as fit, without blocking */
	while (done + PHLOEM_RECORD_SIZE <= count &&
	       phloem_reader_pop(r, &rec)) {
		if (copy_to_user(buf + done, &rec, PHLOEM_RECORD_SIZE))
			return done;
		done += PHLOEM_RECORD_SIZE;
	}
	return done;
}

static __poll_t phloem_poll(struct file *file, poll_table *wait)
{
	struct phloem_reader *r = file->private_data;
	struct phloem_dev *pd = r->pd;
	__poll_t mask = 0;

	poll_wait(file, &pd->wq, wait);
	spin_lock(&pd->readers_lock);
	if (r->count || r->lost)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (pd->gone)
		mask |= EPOLLHUP | EPOLLERR;
	spin_unlock(&pd->readers_lock);
	return mask;
}

/*
 * Structures carry their own size. Output: the caller's size must reach the
 * first published version; min(size, ours) bytes are copied and the size
 * field returned holds ours, so a caller can tell what the kernel knows.
 */
static int phloem_copy_out(void __user *uarg, void *k, u32 ksize, u32 ver0)
{
	u32 usize;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < ver0)
		return -EINVAL;
	*(u32 *)k = ksize;
	if (copy_to_user(uarg, k, min(usize, ksize)))
		return -EFAULT;
	return 0;
}

/*
 * Input: sizes from the first version up; a larger structure only when the
 * bytes we do not know are zero. Capped at a page to bound the zero check.
 */
static int phloem_copy_in(void *k, u32 ksize, u32 ver0, void __user *uarg)
{
	u32 usize;
	int ret;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < ver0 || usize > PAGE_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(k, ksize, uarg, usize);
	if (ret == -E2BIG)
		return -EINVAL;
	if (ret)
		return ret;
	*(u32 *)k = ksize;
	return 0;
}

/*
 * A SET_CONFIG from a caller built before the grid-operator lines (VER0 or
 * VER1), or before the phase rules (VER2), knows nothing of them: their
 * configuration in force stays, it is not zeroed (an old agent must not
 * switch off a firmware §14a action or a connection's phase limits).
 * Everything past what the caller knows, from VER1 on, is kept.
 */
static int phloem_config_keep_tail(struct phloem_dev *pd,
				   struct phloem_config *cfg,
				   void __user *uarg)
{
	size_t off = PHLOEM_CONFIG_SIZE_VER1;
	struct phloem_config *cur;
	u32 usize;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize >= sizeof(*cfg))
		return 0;
	if (usize > off)
		off = usize;
	cur = kmalloc(sizeof(*cur), GFP_KERNEL);
	if (!cur)
		return -ENOMEM;
	spin_lock(&pd->shed_lock);
	phloem_shed_get_config(pd->shed, cur);
	spin_unlock(&pd->shed_lock);
	memcpy((u8 *)cfg + off, (u8 *)cur + off, sizeof(*cfg) - off);
	kfree(cur);
	return 0;
}

union phloem_ioc_buf {
	struct phloem_info info;
	struct phloem_config cfg;
	struct phloem_override ovr;
	struct phloem_lease lease;
	struct phloem_status status;
	struct phloem_stats stats;
};

static long phloem_ioctl_locked(struct phloem_dev *pd, unsigned int nr,
				union phloem_ioc_buf *b, void __user *uarg)
{
	long ret;

	switch (nr) {
	case _IOC_NR(PHLOEM_IOC_INFO):
		b->info = pd->info;
		return phloem_copy_out(uarg, &b->info, sizeof(b->info),
				       PHLOEM_INFO_SIZE_VER0);

	case _IOC_NR(PHLOEM_IOC_GET_CONFIG):
		spin_lock(&pd->shed_lock);
		phloem_shed_get_config(pd->shed, &b->cfg);
		spin_unlock(&pd->shed_lock);
		return phloem_copy_out(uarg, &b->cfg, sizeof(b->cfg),
				       PHLOEM_CONFIG_SIZE_VER0);

	case _IOC_NR(PHLOEM_IOC_SET_CONFIG):
		ret = phloem_copy_in(&b->cfg, sizeof(b->cfg),
				     PHLOEM_CONFIG_SIZE_VER0, uarg);
		if (!ret)
			ret = phloem_config_keep_tail(pd, &b->cfg, uarg);
		if (ret)
			return ret;
		/* Checked in full before the lock: nothing changes on error */
		ret = phloem_shed_check_config(&pd->info, &b->cfg);
		if (ret)
			return ret;
		spin_lock(&pd->shed_lock);
		ret = phloem_shed_set_config(pd->shed, &b->cfg, ktime_get_ns());
		spin_unlock(&pd->shed_lock);
		if (ret)
			return ret;
		phloem_sampler_config_changed(pd, &b->cfg);
		phloem_relays_apply(pd);
		return 0;

	case _IOC_NR(PHLOEM_IOC_OVERRIDE):
		ret = phloem_copy_in(&b->ovr, sizeof(b->ovr),
				     PHLOEM_OVERRIDE_SIZE_VER0, uarg);
		if (ret)
			return ret;
		if (b->ovr.flags & ~__PHLOEM_OVERRIDE_F_ALL || b->ovr.reserved)
			return -EINVAL;
		spin_lock(&pd->shed_lock);
		ret = phloem_shed_override(pd->shed, b->ovr.relay, b->ovr.mode,
					   b->ovr.expiry_ms, ktime_get_ns());
		spin_unlock(&pd->shed_lock);
		if (ret)
			return ret;
		phloem_relays_apply(pd);
		return 0;

	case _IOC_NR(PHLOEM_IOC_LEASE):
		ret = phloem_copy_in(&b->lease, sizeof(b->lease),
				     PHLOEM_LEASE_SIZE_VER0, uarg);
		if (ret)
			return ret;
		if (b->lease.flags & ~__PHLOEM_LEASE_F_ALL || b->lease.reserved)
			return -EINVAL;
		spin_lock(&pd->shed_lock);
		ret = phloem_shed_lease(pd->shed, b->lease.timeout_ms,
					ktime_get_ns());
		spin_unlock(&pd->shed_lock);
		trace_phloem_lease(pd->id, b->lease.timeout_ms, ret);
		if (ret)
			return ret;
		phloem_relays_apply(pd);
		return 0;

	case _IOC_NR(PHLOEM_IOC_GET_STATUS):
		spin_lock(&pd->shed_lock);
		phloem_shed_status(pd->shed, &b->status, ktime_get_ns());
		spin_unlock(&pd->shed_lock);
		return phloem_copy_out(uarg, &b->status, sizeof(b->status),
				       PHLOEM_STATUS_SIZE_VER0);

	case _IOC_NR(PHLOEM_IOC_GET_STATS):
		spin_lock(&pd->shed_lock);
		phloem_shed_counters(pd->shed, &b->stats);
		spin_unlock(&pd->shed_lock);
		phloem_stats_fill(pd, &b->stats);
		return phloem_copy_out(uarg, &b->stats, sizeof(b->stats),
				       PHLOEM_STATS_SIZE_VER0);
	}
	return -ENOTTY;
}

/* Direction of each command, and whether it changes state */
static const struct {
	u8 dir;
	bool write;
} phloem_ioc_table[] = {
	[_IOC_NR(PHLOEM_IOC_INFO)]	 = { _IOC_READ,  false },
	[_IOC_NR(PHLOEM_IOC_GET_CONFIG)] = { _IOC_READ,  false },
	[_IOC_NR(PHLOEM_IOC_SET_CONFIG)] = { _IOC_WRITE, true },
	[_IOC_NR(PHLOEM_IOC_OVERRIDE)]	 = { _IOC_WRITE, true },
	[_IOC_NR(PHLOEM_IOC_LEASE)]	 = { _IOC_WRITE, true },
	[_IOC_NR(PHLOEM_IOC_GET_STATUS)] = { _IOC_READ,  false },
	[_IOC_NR(PHLOEM_IOC_GET_STATS)]	 = { _IOC_READ,  false },
};

static long phloem_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct phloem_reader *r = file->private_data;
	struct phloem_dev *pd = r->pd;
	unsigned int nr = _IOC_NR(cmd);
	union phloem_ioc_buf *b;
	long ret;

	/* The size lives in the structure, so _IOC_SIZE is not compared */
	if (_IOC_TYPE(cmd) != PHLOEM_IOC_MAGIC ||
	    nr >= ARRAY_SIZE(phloem_ioc_table) ||
	    _IOC_DIR(cmd) != phloem_ioc_table[nr].dir)
		return -ENOTTY;

	if (phloem_ioc_table[nr].write) {
		if (!capable(CAP_NET_ADMIN))
			return -EPERM;
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
	}

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;

	/* Keeps remove from releasing the hardware under us */
	down_read(&pd->rwsem);
	if (pd->gone)
		ret = -ENODEV;
	else
		ret = phloem_ioctl_locked(pd, nr, b, (void __user *)arg);
	up_read(&pd->rwsem);

	kfree(b);
	return ret;
}

static const struct file_operations phloem_fops = {
	.owner		= THIS_MODULE,
	.open		= phloem_open,
	.release	= phloem_release,
	.read		= phloem_read,
	.poll		= phloem_poll,
	.unlocked_ioctl	= phloem_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
};

/**
 * phloem_chardev_add() - create /dev/phloemN
 * @pd: device, with @cdev_dev initialised (device_initialize) by the caller
 *
 * Return: 0 or a negative errno.
 */
int phloem_chardev_add(struct phloem_dev *pd)
{
	int ret;

	pd->cdev_dev.class = phloem_class;
	pd->cdev_dev.parent = pd->dev;
	pd->cdev_dev.devt = MKDEV(MAJOR(phloem_devt), pd->id);
	ret = dev_set_name(&pd->cdev_dev, "phloem%d", pd->id);
	if (ret)
		return ret;

	cdev_init(&pd->cdev, &phloem_fops);
	pd->cdev.owner = THIS_MODULE;
	ret = cdev_device_add(&pd->cdev, &pd->cdev_dev);
	if (ret)
		return dev_err_probe(pd->dev, ret, "cannot add /dev/phloem%d\n",
				     pd->id);
	return 0;
}

/**
 * phloem_chardev_gone() - tell openers the device is going away
 * @pd: device being unbound
 *
 * After this no ioctl touches the hardware (they get -ENODEV) and readers
 * get -ENODEV once their ring is empty; poll() reports EPOLLHUP.
 */
void phloem_chardev_gone(struct phloem_dev *pd)
{
	down_write(&pd->rwsem);
	spin_lock(&pd->readers_lock);
	pd->gone = true;
	spin_unlock(&pd->readers_lock);
	up_write(&pd->rwsem);
	wake_up_interruptible_all(&pd->wq);
}

/**
 * phloem_chardev_del() - remove /dev/phloemN
 * @pd: device; open files keep it (and @cdev_dev) alive until closed
 */
void phloem_chardev_del(struct phloem_dev *pd)
{
	cdev_device_del(&pd->cdev, &pd->cdev_dev);
}

/* 0640: the stream shows a household's consumption; group "phloem" reads */
static char *phloem_devnode(struct device *dev, umode_t *mode)
{
	if (mode)
		*mode = 0640;
	return NULL;
}

int phloem_chardev_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&phloem_devt, 0, PHLOEM_MAX_DEVS, "phloem");
	if (ret)
		return ret;

	phloem_class = class_create(THIS_MODULE, "phloem");
	if (IS_ERR(phloem_class)) {
		ret = PTR_ERR(phloem_class);
		goto err_region;
	}
	phloem_class->devnode = phloem_devnode;
	return 0;

err_region:
	unregister_chrdev_region(phloem_devt, PHLOEM_MAX_DEVS);
	return ret;
}

void phloem_chardev_uninit(void)
{
	class_destroy(phloem_class);
	unregister_chrdev_region(phloem_devt, PHLOEM_MAX_DEVS);
}
