/*
 * The kernel's red-black tree in C (lib/rbtree.c's algorithm: rb_insert_color and
 * rb_erase with their rebalancing, parent and colour in one word), for the native
 * references (the .c files of bench/native). Written for this repository from lib/rbtree.c's
 * documented cases, not copied. Header-only, every function static.
 */
#ifndef KWQ_NATIVE_RBTREE_H
#define KWQ_NATIVE_RBTREE_H

#include <stddef.h>

/* ---- rbtree: the kernel's red-black tree (lib/rbtree.c's algorithm) ---------- */

struct rb_node {
	unsigned long parent_color; /* parent pointer | colour in bit 0 (RB_RED 0, RB_BLACK 1) */
	struct rb_node *right;
	struct rb_node *left;
} __attribute__((aligned(sizeof(long))));

struct rb_root {
	struct rb_node *node;
};

#define RB_RED 0
#define RB_BLACK 1

static inline struct rb_node *rb_parent(const struct rb_node *n) { return (struct rb_node *)(n->parent_color & ~3ul); }
static inline int rb_is_black(const struct rb_node *n) { return n->parent_color & 1; }
static inline int rb_is_red(const struct rb_node *n) { return !(n->parent_color & 1); }
static inline void rb_set_black(struct rb_node *n) { n->parent_color |= RB_BLACK; }
static inline void rb_set_parent(struct rb_node *n, struct rb_node *p) { n->parent_color = (n->parent_color & 1) | (unsigned long)p; }
static inline void rb_set_parent_color(struct rb_node *n, struct rb_node *p, int c) { n->parent_color = (unsigned long)p | (unsigned long)c; }

static inline void rb_change_child(struct rb_node *old, struct rb_node *nw, struct rb_node *parent, struct rb_root *root)
{
	if (parent) {
		if (parent->left == old)
			parent->left = nw;
		else
			parent->right = nw;
	} else {
		root->node = nw;
	}
}

/* nw takes old's place; old becomes nw's child with colour c */
static inline void rb_rotate_set_parents(struct rb_node *old, struct rb_node *nw, struct rb_root *root, int c)
{
	struct rb_node *parent = rb_parent(old);
	nw->parent_color = old->parent_color;
	rb_set_parent_color(old, nw, c);
	rb_change_child(old, nw, parent, root);
}

static inline void rb_link_node(struct rb_node *node, struct rb_node *parent, struct rb_node **link)
{
	node->parent_color = (unsigned long)parent; /* red */
	node->left = node->right = NULL;
	*link = node;
}

/* rb_insert_color: restore the invariants after linking a red node */
static __attribute__((unused)) void rb_insert_color(struct rb_node *node, struct rb_root *root)
{
	struct rb_node *parent = rb_parent(node), *gparent, *tmp;
	for (;;) {
		if (!parent) { /* node is the root: black */
			rb_set_parent_color(node, NULL, RB_BLACK);
			return;
		}
		if (rb_is_black(parent))
			return;
		gparent = rb_parent(parent); /* a red parent is never the root */
		tmp = gparent->right;
		if (parent != tmp) { /* parent is the left child */
			if (tmp && rb_is_red(tmp)) { /* red uncle: recolour, go up */
				rb_set_parent_color(tmp, gparent, RB_BLACK);
				rb_set_parent_color(parent, gparent, RB_BLACK);
				node = gparent;
				parent = rb_parent(node);
				rb_set_parent_color(node, parent, RB_RED);
				continue;
			}
			tmp = parent->right;
			if (node == tmp) { /* inner child: rotate left at parent */
				tmp = node->left;
				parent->right = tmp;
				node->left = parent;
				if (tmp)
					rb_set_parent_color(tmp, parent, RB_BLACK);
				rb_set_parent_color(parent, node, RB_RED);
				parent = node;
				tmp = node->right;
			}
			/* outer child: rotate right at gparent */
			gparent->left = tmp;
			parent->right = gparent;
			if (tmp)
				rb_set_parent_color(tmp, gparent, RB_BLACK);
			rb_rotate_set_parents(gparent, parent, root, RB_RED);
			return;
		} else { /* the mirror image */
			tmp = gparent->left;
			if (tmp && rb_is_red(tmp)) {
				rb_set_parent_color(tmp, gparent, RB_BLACK);
				rb_set_parent_color(parent, gparent, RB_BLACK);
				node = gparent;
				parent = rb_parent(node);
				rb_set_parent_color(node, parent, RB_RED);
				continue;
			}
			tmp = parent->left;
			if (node == tmp) {
				tmp = node->right;
				parent->left = tmp;
				node->right = parent;
				if (tmp)
					rb_set_parent_color(tmp, parent, RB_BLACK);
				rb_set_parent_color(parent, node, RB_RED);
				parent = node;
				tmp = node->left;
			}
			gparent->right = tmp;
			parent->left = gparent;
			if (tmp)
				rb_set_parent_color(tmp, gparent, RB_BLACK);
			rb_rotate_set_parents(gparent, parent, root, RB_RED);
			return;
		}
	}
}

/* the rebalancing after removing a black node: `parent` lost a black on one side */
static __attribute__((unused)) void rb_erase_color(struct rb_node *parent, struct rb_root *root)
{
	struct rb_node *node = NULL, *sibling, *tmp1, *tmp2;
	for (;;) {
		sibling = parent->right;
		if (node != sibling) { /* node is the left child (or NULL there) */
			if (rb_is_red(sibling)) { /* red sibling: rotate left at parent */
				tmp1 = sibling->left;
				parent->right = tmp1;
				sibling->left = parent;
				rb_set_parent_color(tmp1, parent, RB_BLACK);
				rb_rotate_set_parents(parent, sibling, root, RB_RED);
				sibling = tmp1;
			}
			tmp1 = sibling->right;
			if (!tmp1 || rb_is_black(tmp1)) {
				tmp2 = sibling->left;
				if (!tmp2 || rb_is_black(tmp2)) { /* both nephews black: recolour sibling */
					rb_set_parent_color(sibling, parent, RB_RED);
					if (rb_is_red(parent)) {
						rb_set_black(parent);
					} else {
						node = parent;
						parent = rb_parent(node);
						if (parent)
							continue;
					}
					return;
				}
				/* inner nephew red: rotate right at sibling */
				tmp1 = tmp2->right;
				sibling->left = tmp1;
				tmp2->right = sibling;
				parent->right = tmp2;
				if (tmp1)
					rb_set_parent_color(tmp1, sibling, RB_BLACK);
				tmp1 = sibling;
				sibling = tmp2;
			}
			/* outer nephew red: rotate left at parent, recolour */
			tmp2 = sibling->left;
			parent->right = tmp2;
			sibling->left = parent;
			rb_set_parent_color(tmp1, sibling, RB_BLACK);
			if (tmp2)
				rb_set_parent(tmp2, parent);
			rb_rotate_set_parents(parent, sibling, root, RB_BLACK);
			return;
		} else { /* the mirror image */
			sibling = parent->left;
			if (rb_is_red(sibling)) {
				tmp1 = sibling->right;
				parent->left = tmp1;
				sibling->right = parent;
				rb_set_parent_color(tmp1, parent, RB_BLACK);
				rb_rotate_set_parents(parent, sibling, root, RB_RED);
				sibling = tmp1;
			}
			tmp1 = sibling->left;
			if (!tmp1 || rb_is_black(tmp1)) {
				tmp2 = sibling->right;
				if (!tmp2 || rb_is_black(tmp2)) {
					rb_set_parent_color(sibling, parent, RB_RED);
					if (rb_is_red(parent)) {
						rb_set_black(parent);
					} else {
						node = parent;
						parent = rb_parent(node);
						if (parent)
							continue;
					}
					return;
				}
				tmp1 = tmp2->left;
				sibling->right = tmp1;
				tmp2->left = sibling;
				parent->left = tmp2;
				if (tmp1)
					rb_set_parent_color(tmp1, sibling, RB_BLACK);
				tmp1 = sibling;
				sibling = tmp2;
			}
			tmp2 = sibling->right;
			parent->left = tmp2;
			sibling->right = parent;
			rb_set_parent_color(tmp1, sibling, RB_BLACK);
			if (tmp2)
				rb_set_parent(tmp2, parent);
			rb_rotate_set_parents(parent, sibling, root, RB_BLACK);
			return;
		}
	}
}

/* rb_erase: unlink node (at most one child: splice; two: its successor takes its place) */
static __attribute__((unused)) void rb_erase(struct rb_node *node, struct rb_root *root)
{
	struct rb_node *child = node->right, *tmp = node->left;
	struct rb_node *parent, *rebalance = NULL;
	unsigned long pc;
	if (!tmp) {
		/* no left child: the right child (if any) is red with black parent */
		pc = node->parent_color;
		parent = (struct rb_node *)(pc & ~3ul);
		rb_change_child(node, child, parent, root);
		if (child)
			child->parent_color = pc;
		else if (pc & 1)
			rebalance = parent;
	} else if (!child) {
		/* only a left child: red, takes node's place and colour */
		pc = node->parent_color;
		tmp->parent_color = pc;
		parent = (struct rb_node *)(pc & ~3ul);
		rb_change_child(node, tmp, parent, root);
	} else {
		struct rb_node *successor = child, *child2;
		tmp = child->left;
		if (!tmp) {
			/* the right child is the successor */
			parent = successor;
			child2 = successor->right;
		} else {
			/* the leftmost node of the right subtree */
			do {
				parent = successor;
				successor = tmp;
				tmp = tmp->left;
			} while (tmp);
			child2 = successor->right;
			parent->left = child2;
			successor->right = child;
			rb_set_parent(child, successor);
		}
		tmp = node->left;
		successor->left = tmp;
		rb_set_parent(tmp, successor);
		pc = node->parent_color;
		tmp = (struct rb_node *)(pc & ~3ul);
		rb_change_child(node, successor, tmp, root);
		if (child2) {
			rb_set_parent_color(child2, parent, RB_BLACK);
		} else {
			if (rb_is_black(successor))
				rebalance = parent;
		}
		successor->parent_color = pc;
	}
	if (rebalance)
		rb_erase_color(rebalance, root);
}

#endif
